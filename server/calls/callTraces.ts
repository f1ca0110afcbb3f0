/**
 * Call traces: the SIP messages of every leg of a call, kept while the call lasts (the live view
 * shows them) and saved when it ends, to be shown as the call's ladder beside its record.
 *
 * Messages are taken from the wire (Transport.setWireTap) and matched to calls by their SIP
 * Call-ID, which each channel carries as its protocolId. A leg's first INVITE and its challenge
 * pass before the channel exists, so INVITE-transaction messages (and their ACKs) of Call-IDs not yet known wait a
 * short while (bounded) for a channel to claim them; anything else unknown (REGISTER, OPTIONS) is
 * ignored at the cost of one header lookup. Each call keeps at most `messagesPerCall` messages and
 * `bytesPerCall` bytes; past that, messages are counted, not kept.
 */
import type { Logger } from 'pino';
import type { CallTraceView, TracedMessage } from '../../contract/callTrace.ts';
import { serialize } from '../sip/message.ts';
import type { WireEvent } from '../sip/transport.ts';
import type { StoredTrace } from '../store/callTraces.ts';
import type { CallEvent, EventBus } from './events.ts';

export interface TraceLimits {
  messagesPerCall: number;
  bytesPerCall: number;
}

export const DEFAULT_TRACE_LIMITS: TraceLimits = { messagesPerCall: 300, bytesPerCall: 512 * 1024 };

/** How long early INVITE messages wait for their channel; Call-IDs waiting at once. */
const PENDING_MS = 32_000;
const PENDING_CALL_IDS = 2000;
const PENDING_PER_CALL_ID = 8;
/** After a call ends, its last transactions (the 200 to a BYE, an ACK) still pass: saved this much later. */
const SAVE_AFTER_MS = 1500;

interface Trace {
  callId: string;
  tenantId: string;
  startedAt: number;
  messages: TracedMessage[];
  bytes: number;
  dropped: number;
  sipCallIds: Set<string>;
}

export interface CallTraceOptions {
  bus: EventBus;
  /** Where the switch listens: the other end of every traced message. */
  local(): { address: string; port: number };
  save(trace: StoredTrace): Promise<void>;
  log: Logger;
  limits?: TraceLimits;
  saveAfterMs?: number;
}

const HEADER = /^(?:call-id|i)[ \t]*:[ \t]*([^\r\n]+)/im;
const INVITE_CSEQ = /^cseq[ \t]*:[ \t]*\d+[ \t]+(?:INVITE|ACK)\b/im;

export class CallTraceRecorder {
  private readonly traces = new Map<string, Trace>();
  private readonly bySipCallId = new Map<string, Trace>();
  private readonly pending = new Map<string, { since: number; messages: TracedMessage[] }>();
  private readonly limits: TraceLimits;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly unsubscribe: () => void;

  constructor(private readonly o: CallTraceOptions) {
    this.limits = o.limits ?? DEFAULT_TRACE_LIMITS;
    this.unsubscribe = o.bus.subscribe((e) => this.onEvent(e));
  }

  /** The wire tap: every message in and out of the SIP transport. */
  readonly observe = (e: WireEvent): void => {
    const head = e.direction === 'in' ? undefined : e.data.toString('latin1', 0, Math.min(e.data.length, 4096));
    const sipCallId = e.direction === 'in' ? e.message.headers['call-id'] : HEADER.exec(head!)?.[1]?.trim();
    if (!sipCallId) return;
    const trace = this.bySipCallId.get(sipCallId);
    if (!trace && !this.isInviteTransaction(e, head)) return;
    const text = e.direction === 'in' ? serialize(e.message)?.toString('utf8') : e.data.toString('utf8');
    if (text === undefined) return;
    const m: TracedMessage = {
      at: e.at,
      direction: e.direction,
      peer: { transport: e.peer.transport, address: e.peer.address, port: e.peer.port },
      sipCallId,
      firstLine: text.slice(0, text.indexOf('\r\n')),
      text,
    };
    if (trace) this.append(trace, m);
    else this.hold(sipCallId, m);
  };

  /** Where the switch listens. */
  local(): CallTraceView['local'] {
    return this.o.local();
  }

  /** A call in progress on this node, as the live view offers it. */
  live(tenantId: string, callId: string): CallTraceView | undefined {
    const t = this.traces.get(callId);
    if (!t || t.tenantId !== tenantId) return undefined;
    return { callId, local: this.o.local(), messages: [...t.messages], dropped: t.dropped };
  }

  stop(): void {
    this.unsubscribe();
    for (const t of this.timers) clearTimeout(t);
  }

  private isInviteTransaction(e: WireEvent, head: string | undefined): boolean {
    const method = e.direction === 'in' ? e.message.headers.cseq?.method : undefined;
    if (e.direction === 'in') return method === 'INVITE' || method === 'ACK';
    return INVITE_CSEQ.test(head!);
  }

  private hold(sipCallId: string, m: TracedMessage): void {
    const now = m.at;
    for (const [id, p] of this.pending) {
      if (now - p.since < PENDING_MS && this.pending.size < PENDING_CALL_IDS) break;
      this.pending.delete(id);
    }
    let p = this.pending.get(sipCallId);
    if (!p) this.pending.set(sipCallId, (p = { since: now, messages: [] }));
    if (p.messages.length < PENDING_PER_CALL_ID) p.messages.push(m);
  }

  private append(t: Trace, m: TracedMessage): void {
    if (t.messages.length >= this.limits.messagesPerCall || t.bytes + m.text.length > this.limits.bytesPerCall) {
      t.dropped++;
      return;
    }
    t.messages.push(m);
    t.bytes += m.text.length;
  }

  private onEvent(e: CallEvent): void {
    if (e.type === 'channel.created') {
      let t = this.traces.get(e.callId);
      if (!t) this.traces.set(e.callId, (t = { callId: e.callId, tenantId: e.tenantId, startedAt: e.at, messages: [], bytes: 0, dropped: 0, sipCallIds: new Set() }));
      const sipCallId = e.channel.protocolId;
      t.sipCallIds.add(sipCallId);
      this.bySipCallId.set(sipCallId, t);
      const early = this.pending.get(sipCallId);
      this.pending.delete(sipCallId);
      for (const m of early?.messages ?? []) this.append(t, m);
      t.messages.sort((a, b) => a.at - b.at);
    } else if (e.type === 'call.ended') {
      const t = this.traces.get(e.callId);
      if (!t) return;
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.traces.delete(t.callId);
        for (const id of t.sipCallIds) this.bySipCallId.delete(id);
        this.o
          .save({ callId: t.callId, tenantId: t.tenantId, startedAt: t.startedAt, messages: t.messages, dropped: t.dropped })
          .catch((err: unknown) => this.o.log.warn({ err, callId: t.callId, tenantId: t.tenantId }, 'call trace not saved'));
      }, this.o.saveAfterMs ?? SAVE_AFTER_MS);
      timer.unref();
      this.timers.add(timer);
    }
  }
}
