/**
 * Server transactions (RFC 3261 §17.2). Absorbs retransmitted requests by resending the last
 * response, retransmits final INVITE responses over UDP until the ACK (Timers G/H/I for non-2xx;
 * for a 2xx, RFC 6026's "Accepted" state: resent until the dialog's ACK, which is handed to
 * whoever answered), and guarantees that every request gets a final response and every
 * transaction ends.
 *
 * Non-INVITE transactions all live for the same Timer J after completion, so they expire in the
 * order they completed: one insertion-ordered Map swept from the front replaces a timer per
 * transaction, which keeps the per-REGISTER cost and memory small.
 */
import type { SipRequest, SipResponse } from './message.ts';
import { serialize } from './message.ts';
import { buildResponse, newTag } from './responses.ts';
import type { Headers } from './message.ts';
import type { AnyPeer, Peer, SipConnection } from './transport.ts';

export const T1 = 500;
export const T2 = 4000;
export const T4 = 5000;

export interface TransactionIO {
  send(peer: AnyPeer, data: Buffer, connection?: SipConnection): void;
  onResponseSent(status: number): void;
  onUnserializable(): void;
}

/** Who wants the ACK of an INVITE's 2xx. */
export interface AckHandlers {
  acked(ack: SipRequest): void;
  /** No ACK within 64*T1: the other side is gone (RFC 3261 §13.3.1.4). */
  lost(): void;
}

/** The ACK of a 2xx is a request of its own (new branch): it is matched by dialog and CSeq. */
function ackKey(callId: string | undefined, fromTag: string | null | undefined, toTag: string | null | undefined, cseq: number | undefined): string {
  return `${callId}\n${fromTag ?? ''}\n${toTag ?? ''}\n${cseq}`;
}

export interface TransactionTimers {
  /** How long the TU may take before the transaction answers 500 on its own. */
  answerDeadlineMs: number;
}

/**
 * `P`: the peers it may carry. The call path's default (`Peer`: UDP, TCP) holds for every
 * transaction the call path is handed (service.ts checks); the SIP layer's own are `AnyPeer`.
 */
export class ServerTransaction<P extends AnyPeer = Peer> {
  private tag?: string;
  private lastResponse?: Buffer;
  finalStatus = 0;
  /** A provisional response went out: the TU is working on it (INVITE), no deadline applies. */
  provisionalSent = false;
  readonly createdAt = Date.now();
  /** INVITE: set when the ACK for a non-2xx final response arrived. */
  acked = false;
  private timerG?: NodeJS.Timeout;
  private timerH?: NodeJS.Timeout;
  private ackHandlers?: AckHandlers;
  /** A 2xx is resent until its ACK (`resend2xx`), and given up on after 64*T1 (`lose2xx`). */
  private resend2xx?: NodeJS.Timeout;
  private lose2xx?: NodeJS.Timeout;
  /** An INVITE answered 2xx whose ACK has not come yet. */
  awaitingAck = false;

  constructor(
    readonly key: string,
    readonly request: SipRequest,
    /** Where responses go: the source address, the rport/Via port (RFC 3581, §18.2.2). */
    readonly responsePeer: P,
    readonly source: P,
    readonly connection: SipConnection | undefined,
    private readonly table: TransactionTable,
  ) {}

  get isInvite(): boolean {
    return this.request.method === 'INVITE';
  }

  /**
   * The INVITE transaction of a call a previous run of this node was handling: same key and To tag,
   * already past its provisional responses, so its final answer reaches the caller as before.
   */
  static resumed<P extends AnyPeer>(
    key: string,
    request: SipRequest,
    responsePeer: P,
    toTag: string,
    table: TransactionTable,
    answered: boolean,
    unacked2xx?: string,
  ): ServerTransaction<P> {
    const tx = new ServerTransaction<P>(key, request, responsePeer, responsePeer, undefined, table);
    tx.tag = toTag;
    tx.provisionalSent = true;
    if (unacked2xx !== undefined) {
      // Answered, and its ACK had not come when the node stopped: resent until it does.
      tx.lastResponse = Buffer.from(unacked2xx, 'utf8');
      tx.finalStatus = 200;
      tx.accept();
    } else if (answered) tx.finalStatus = 200;
    // An answered call's INVITE transaction is over: it only stands for the caller's dialog.
    else table.add(tx);
    return tx;
  }

  /** The 2xx still waiting for its ACK, as sent (what a restarted node resends), if any. */
  get unacked2xx(): string | undefined {
    return this.awaitingAck && this.lastResponse ? this.lastResponse.toString('utf8') : undefined;
  }

  /**
   * The ACK of this INVITE's 2xx goes to `handlers.acked`; without one within 64*T1,
   * `handlers.lost` is called instead. Resending the 2xx until then is this transaction's job.
   */
  expectAck(handlers: AckHandlers): void {
    this.ackHandlers = handlers;
  }

  /** How the ACK of our 2xx names this transaction: its dialog (with the To tag our 2xx carried) and CSeq. */
  get ackKey(): string {
    const h = this.request.headers;
    return ackKey(h['call-id'], h.from?.params.tag, h.to?.params.tag ?? this.toTag, h.cseq?.seq);
  }

  /** RFC 6026 "Accepted": the 2xx is resent on UDP (T1 doubling up to T2) until the ACK. */
  private accept(): void {
    this.awaitingAck = true;
    this.table.awaitAck(this);
    if (!this.connection) {
      let interval = T1;
      const resend = () => {
        this.retransmitted();
        interval = Math.min(interval * 2, T2);
        this.resend2xx = setTimeout(resend, interval).unref();
      };
      this.resend2xx = setTimeout(resend, interval).unref();
    }
    this.lose2xx = setTimeout(() => {
      this.stopAwaitingAck();
      this.ackHandlers?.lost();
    }, 64 * T1).unref();
  }

  /** The ACK of our 2xx arrived. */
  acknowledged(ack: SipRequest): void {
    if (!this.awaitingAck) return;
    this.stopAwaitingAck();
    this.ackHandlers?.acked(ack);
  }

  stopAwaitingAck(): void {
    this.awaitingAck = false;
    clearTimeout(this.resend2xx);
    clearTimeout(this.lose2xx);
    this.table.forgetAck(this);
  }

  /** Our To tag for this request's responses, made when first needed. */
  get toTag(): string {
    return (this.tag ??= newTag());
  }

  get answered(): boolean {
    return this.finalStatus >= 200;
  }

  /** Sends a response built from the request. Ignored after the final response. */
  respond(status: number, reason?: string, headers?: Headers, body?: { type: string; content: string }): void {
    const res = buildResponse(this.request, status, reason, this.toTag, headers);
    if (body) {
      res.headers['content-type'] = body.type;
      res.content = body.content;
    }
    this.send(res);
  }

  send(res: SipResponse): void {
    if (this.answered) return;
    const data = serialize(res);
    if (!data) {
      this.table.io.onUnserializable();
      if (res.status >= 200) this.table.complete(this);
      return;
    }
    this.lastResponse = data;
    this.table.io.send(this.responsePeer, data, this.connection);
    this.table.io.onResponseSent(res.status);
    if (res.status < 200) this.provisionalSent = true;
    if (res.status >= 200) {
      this.finalStatus = res.status;
      this.table.complete(this);
      if (this.isInvite && res.status < 300) this.accept();
    }
  }

  /** A retransmitted request: resend whatever we last answered. */
  retransmitted(): void {
    if (this.lastResponse) this.table.io.send(this.responsePeer, this.lastResponse, this.connection);
  }

  /** What a completed non-INVITE transaction still needs: its answer, not the parsed request. */
  remnant(expiresAt: number): CompletedTransaction {
    return new CompletedTransaction(this.lastResponse, this.responsePeer, this.table.io, expiresAt);
  }

  /** INVITE, final response sent on UDP: resend it with Timer G until ACK or Timer H. */
  startInviteCompletion(reliable: boolean, onEnd: () => void): void {
    let interval = T1;
    const retransmit = () => {
      if (this.acked) return;
      this.retransmitted();
      interval = Math.min(interval * 2, T2);
      this.timerG = setTimeout(retransmit, interval).unref();
    };
    if (!reliable && this.finalStatus >= 300) this.timerG = setTimeout(retransmit, interval).unref();
    this.timerH = setTimeout(onEnd, reliable ? 0 : 64 * T1).unref();
  }

  /** ACK to a non-2xx final: stop retransmitting; keep absorbing ACKs for Timer I. */
  ack(onEnd: () => void): void {
    if (this.acked) return;
    this.acked = true;
    clearTimeout(this.timerG);
    clearTimeout(this.timerH);
    this.timerH = setTimeout(onEnd, this.connection ? 0 : T4).unref();
  }

  dispose(): void {
    clearTimeout(this.timerG);
    clearTimeout(this.timerH);
  }
}

/**
 * A completed non-INVITE transaction during Timer J: it only absorbs retransmissions, so it keeps
 * the serialized answer and where to send it (about 600 bytes instead of the whole parsed request,
 * which at thousands of REGISTERs a second was most of the switch's memory).
 */
export class CompletedTransaction {
  readonly isInvite = false;
  readonly finalStatus = 200;

  constructor(
    private readonly response: Buffer | undefined,
    private readonly peer: AnyPeer,
    private readonly io: TransactionIO,
    readonly expiresAt: number,
  ) {}

  retransmitted(): void {
    if (this.response) this.io.send(this.peer, this.response);
  }
}

export class TransactionTable {
  private readonly live = new Map<string, ServerTransaction<AnyPeer>>();
  /** Completed non-INVITE transactions, in completion order. */
  private readonly completed = new Map<string, CompletedTransaction>();
  private readonly invites = new Map<string, ServerTransaction<AnyPeer>>();
  /** INVITEs answered 2xx whose ACK is awaited, by ackKey. */
  private readonly accepted = new Map<string, ServerTransaction<AnyPeer>>();
  private sweeper?: NodeJS.Timeout;

  constructor(
    readonly io: TransactionIO,
    private readonly timers: TransactionTimers,
  ) {}

  start(): void {
    this.sweeper = setInterval(() => this.sweep(Date.now()), 250).unref();
  }

  stop(): void {
    clearInterval(this.sweeper);
    for (const tx of this.invites.values()) tx.dispose();
    for (const tx of [...this.accepted.values()]) tx.stopAwaitingAck();
    this.live.clear();
    this.completed.clear();
    this.invites.clear();
  }

  get size(): number {
    return this.live.size + this.completed.size + this.invites.size;
  }

  find(key: string): ServerTransaction<AnyPeer> | CompletedTransaction | undefined {
    return this.live.get(key) ?? this.completed.get(key) ?? this.invites.get(key);
  }

  add(tx: ServerTransaction<AnyPeer>): void {
    if (tx.isInvite) this.invites.set(tx.key, tx);
    else this.live.set(tx.key, tx);
  }

  complete(tx: ServerTransaction<AnyPeer>): void {
    if (tx.isInvite) {
      tx.startInviteCompletion(Boolean(tx.connection), () => this.end(tx));
      return;
    }
    this.live.delete(tx.key);
    // Timer J: 64*T1 on UDP to absorb retransmissions; nothing to absorb on a reliable transport.
    if (tx.connection) return;
    this.completed.set(tx.key, tx.remnant(Date.now() + 64 * T1));
  }

  ack(tx: ServerTransaction<AnyPeer>): void {
    tx.ack(() => this.end(tx));
  }

  awaitAck(tx: ServerTransaction<AnyPeer>): void {
    this.accepted.set(tx.ackKey, tx);
  }

  forgetAck(tx: ServerTransaction<AnyPeer>): void {
    if (this.accepted.get(tx.ackKey) === tx) this.accepted.delete(tx.ackKey);
  }

  /** An ACK for a 2xx: handed to its INVITE's transaction (true), or it matches none (false). */
  acknowledge(ack: SipRequest): boolean {
    const h = ack.headers;
    const tx = this.accepted.get(ackKey(h['call-id'], h.from?.params.tag, h.to?.params.tag, h.cseq?.seq));
    if (!tx) return false;
    tx.acknowledged(ack);
    return true;
  }

  private end(tx: ServerTransaction<AnyPeer>): void {
    tx.dispose();
    if (this.invites.get(tx.key) === tx) this.invites.delete(tx.key);
  }

  /** Ends expired completions and answers 500 for requests the TU failed to answer in time. */
  sweep(now: number): void {
    for (const [key, entry] of this.completed) {
      if (entry.expiresAt > now) break;
      this.completed.delete(key);
    }
    const deadline = now - this.timers.answerDeadlineMs;
    for (const tx of this.live.values()) {
      if (tx.createdAt > deadline) break;
      tx.respond(500, 'Request Not Answered In Time');
    }
    for (const tx of this.invites.values()) {
      if (!tx.answered && !tx.provisionalSent && tx.createdAt <= deadline) tx.respond(500, 'Request Not Answered In Time');
    }
  }
}
