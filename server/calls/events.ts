/**
 * The call model's events (DESIGN.md, "The call model"; their types, shared with the portal, are
 * in contract/calls.ts). Call handling emits them on a bus; the CDR writer, the live view, metrics
 * and dialog persistence subscribe. Every event carries full snapshots, so a consumer never has to
 * reconstruct state from earlier events.
 */

import type { CallEvent, CallEventEnvelope } from '../../contract/calls.ts';

export type { BridgeSnapshot, CallEvent, ChannelSnapshot, ChannelState, HangupCause, LegMedia, LegQuality, Party, TransferPolicy } from '../../contract/calls.ts';

export type CallEventType = CallEvent['type'];
type Payload<T extends CallEventType> = Omit<Extract<CallEvent, { type: T }>, keyof CallEventEnvelope>;
export type NewCallEvent = { [T in CallEventType]: Payload<T> & { tenantId: string; callId: string } }[CallEventType];

export type Subscriber = (event: CallEvent) => void;

/**
 * In-process, synchronous, ordered. A subscriber that throws is logged and kept: one broken
 * consumer must not break call handling or the others.
 */
export class EventBus {
  private seq = 0;
  private readonly subscribers = new Set<Subscriber>();

  constructor(
    private readonly nodeId: string,
    private readonly onSubscriberError: (err: unknown, event: CallEvent) => void,
  ) {}

  subscribe(fn: Subscriber): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  emit(e: NewCallEvent): CallEvent {
    const event = { ...e, seq: ++this.seq, at: Date.now(), nodeId: this.nodeId } as CallEvent;
    for (const fn of this.subscribers) {
      try {
        fn(event);
      } catch (err) {
        this.onSubscriberError(err, event);
      }
    }
    return event;
  }
}
