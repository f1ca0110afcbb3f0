/**
 * The call model's events (DESIGN.md, "The call model"). Call handling emits them on a bus; the CDR
 * writer, the live view, metrics and dialog persistence subscribe. Every event carries full
 * snapshots, so a consumer never has to reconstruct state from earlier events.
 */

import type { HangupCause } from '../domain/outcomes.ts';

export type { HangupCause } from '../domain/outcomes.ts';

export type ChannelState = 'down' | 'ringing' | 'up' | 'hungup';

export interface Party {
  user: string;
  host: string;
  display?: string;
  uri: string;
}

export interface ChannelSnapshot {
  /** UUIDv7, minted with the leg; never changes, whatever happens to the call. */
  id: string;
  /** The call (tree of legs) this channel belongs to. */
  callId: string;
  tenantId: string;
  /** inbound: the leg that came to the switch; outbound: a leg the switch placed. */
  direction: 'inbound' | 'outbound';
  state: ChannelState;
  /** The SIP Call-ID of this leg's dialog. */
  protocolId: string;
  from: Party;
  to: Party;
  /** Outbound legs: what the dialplan dialled, in dial-string form (`alice`, `0123@trunk`, a URI). */
  target?: string;
  /** The tenant's SIP account at this leg's end (the caller's, or the callee's), if any. */
  account?: string;
  provider?: string;
  peer: { address: string; port: number; transport: string };
  createdAt: number;
  ringingAt?: number;
  answeredAt?: number;
  endedAt?: number;
  bridgeId?: string;
  /** Set when hung up. */
  hangupCause?: HangupCause;
  sipStatus?: number;
}

/**
 * Who may transfer the parties of a bridge (REFER): either party, only the tenant's own phones,
 * or nobody. Set by the dial that made the bridge (its `transfer` option).
 */
export type TransferPolicy = 'anyone' | 'phones' | 'nobody';

export interface BridgeSnapshot {
  id: string;
  callId: string;
  tenantId: string;
  channelIds: string[];
  createdAt: number;
  transfers: TransferPolicy;
}

interface Base {
  seq: number;
  at: number;
  nodeId: string;
  tenantId: string;
  callId: string;
}

export type CallEvent = Base &
  (
    | { type: 'channel.created'; channel: ChannelSnapshot }
    | { type: 'channel.state'; channel: ChannelSnapshot }
    | { type: 'channel.hungup'; channel: ChannelSnapshot; cause: HangupCause; sipStatus?: number; by: 'caller' | 'callee' | 'switch' }
    | { type: 'bridge.created'; bridge: BridgeSnapshot }
    | { type: 'bridge.entered'; bridge: BridgeSnapshot; channelId: string }
    | { type: 'bridge.left'; bridge: BridgeSnapshot; channelId: string }
    | { type: 'bridge.destroyed'; bridge: BridgeSnapshot }
    | { type: 'transfer.blind'; transferer: string; transferee: string; target: string; result: 'ok' | 'failed'; sipStatus?: number }
    | {
        type: 'transfer.attended';
        transferer: string;
        transferee: string;
        /** The transferer's channel in its consultation call, which the transfer ended. */
        replaced: string;
        /** The channel of the party the transferee was connected to (in the consultation call). */
        target: string;
        /** That party's user or number, for people reading the record. */
        party: string;
        how: 'replaces';
        result: 'ok' | 'failed';
        sipStatus?: number;
      }
    | { type: 'dialplan.started'; channelId: string; executionId: string; dialplan: { name: string; version: number } }
    | { type: 'dialplan.log'; channelId: string; executionId?: string; level: 'debug' | 'info' | 'warn' | 'error'; message: string }
    | { type: 'dialplan.ended'; channelId: string; executionId: string; outcome: string; error?: string }
    | { type: 'call.ended' }
  );

export type CallEventType = CallEvent['type'];
type Payload<T extends CallEventType> = Omit<Extract<CallEvent, { type: T }>, keyof Base>;
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
