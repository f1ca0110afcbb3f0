/**
 * Server transactions (RFC 3261 §17.2). Absorbs retransmitted requests by resending the last
 * response, retransmits final INVITE responses over UDP until the ACK (Timers G/H/I), and
 * guarantees that every request gets a final response and every transaction ends.
 *
 * Non-INVITE transactions all live for the same Timer J after completion, so they expire in the
 * order they completed: one insertion-ordered Map swept from the front replaces a timer per
 * transaction, which keeps the per-REGISTER cost and memory small.
 */
import type { SipRequest, SipResponse } from './message.ts';
import { serialize } from './message.ts';
import { buildResponse, newTag } from './responses.ts';
import type { Headers } from './message.ts';
import type { Peer, TcpConnection } from './transport.ts';

export const T1 = 500;
export const T2 = 4000;
export const T4 = 5000;

export interface TransactionIO {
  send(peer: Peer, data: Buffer, connection?: TcpConnection): void;
  onResponseSent(status: number): void;
  onUnserializable(): void;
}

export interface TransactionTimers {
  /** How long the TU may take before the transaction answers 500 on its own. */
  answerDeadlineMs: number;
}

export class ServerTransaction {
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

  constructor(
    readonly key: string,
    readonly request: SipRequest,
    /** Where responses go: the source address, the rport/Via port (RFC 3581, §18.2.2). */
    readonly responsePeer: Peer,
    readonly source: Peer,
    readonly connection: TcpConnection | undefined,
    private readonly table: TransactionTable,
  ) {}

  get isInvite(): boolean {
    return this.request.method === 'INVITE';
  }

  /**
   * The INVITE transaction of a call a previous run of this node was handling: same key and To tag,
   * already past its provisional responses, so its final answer reaches the caller as before.
   */
  static resumed(key: string, request: SipRequest, responsePeer: Peer, toTag: string, table: TransactionTable, answered: boolean): ServerTransaction {
    const tx = new ServerTransaction(key, request, responsePeer, responsePeer, undefined, table);
    tx.tag = toTag;
    tx.provisionalSent = true;
    // An answered call's INVITE transaction is over: it only stands for the caller's dialog.
    if (answered) tx.finalStatus = 200;
    else table.add(tx);
    return tx;
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
    private readonly peer: Peer,
    private readonly io: TransactionIO,
    readonly expiresAt: number,
  ) {}

  retransmitted(): void {
    if (this.response) this.io.send(this.peer, this.response);
  }
}

export class TransactionTable {
  private readonly live = new Map<string, ServerTransaction>();
  /** Completed non-INVITE transactions, in completion order. */
  private readonly completed = new Map<string, CompletedTransaction>();
  private readonly invites = new Map<string, ServerTransaction>();
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
    this.live.clear();
    this.completed.clear();
    this.invites.clear();
  }

  get size(): number {
    return this.live.size + this.completed.size + this.invites.size;
  }

  find(key: string): ServerTransaction | CompletedTransaction | undefined {
    return this.live.get(key) ?? this.completed.get(key) ?? this.invites.get(key);
  }

  add(tx: ServerTransaction): void {
    if (tx.isInvite) this.invites.set(tx.key, tx);
    else this.live.set(tx.key, tx);
  }

  complete(tx: ServerTransaction): void {
    if (tx.isInvite) {
      tx.startInviteCompletion(Boolean(tx.connection), () => this.end(tx));
      return;
    }
    this.live.delete(tx.key);
    // Timer J: 64*T1 on UDP to absorb retransmissions; nothing to absorb on a reliable transport.
    if (tx.connection) return;
    this.completed.set(tx.key, tx.remnant(Date.now() + 64 * T1));
  }

  ack(tx: ServerTransaction): void {
    tx.ack(() => this.end(tx));
  }

  private end(tx: ServerTransaction): void {
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
