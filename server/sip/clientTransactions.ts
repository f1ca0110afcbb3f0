/**
 * Client transactions (RFC 3261 §17.1, with RFC 6026 for 2xx to INVITE). A request goes out with a
 * fresh branch; responses are matched by branch and method; retransmissions over UDP follow Timers
 * A/E; every transaction ends by itself (Timers B/D/F/K) and reports a timeout as a synthesized 408,
 * so callers always get exactly one final outcome.
 */
import { randomToken } from './random.ts';
import type { SipRequest, SipResponse, Via } from './message.ts';
import { serialize } from './message.ts';
import { T1, T2, T4 } from './transactions.ts';

export interface SipTimers {
  t1: number;
  t2: number;
  t4: number;
}

export const RFC_TIMERS: SipTimers = { t1: T1, t2: T2, t4: T4 };
import type { AnyPeer } from './transport.ts';

export interface ClientTransactionHandlers {
  /** Provisional responses, in order received. */
  onProvisional?(res: SipResponse): void;
  /** The final response (or a synthesized 408/503 on timeout or transport failure). Called once. */
  onFinal(res: SipResponse): void;
  /** INVITE only: retransmissions of a 2xx after the first, for the dialog layer to re-ACK. */
  onRetransmitted2xx?(res: SipResponse): void;
}

export interface ClientTransportIO {
  /** Returns false when the request could not be sent at all (no TCP connection). */
  send(peer: AnyPeer, data: Buffer): boolean;
  /** Our Via sent-by for a transport, e.g. `127.0.0.1:5060`. */
  sentBy(transport: AnyPeer['transport']): { host: string; port: number };
  /** A request refused by the serializer (see message.ts): it was not sent. */
  onUnserializable(): void;
}

/**
 * A request that belongs to an INVITE's transaction rather than to a dialog: the ACK for a non-2xx
 * and the CANCEL (RFC 3261 §17.1.1.3, §9.1) copy its Request-URI, From, Call-ID, CSeq number and
 * Route; the ACK takes the To of the response it acknowledges.
 */
export function requestOnInvite(invite: SipRequest, method: 'ACK' | 'CANCEL', to = invite.headers.to): SipRequest {
  return {
    method,
    uri: invite.uri,
    version: '2.0',
    headers: {
      from: invite.headers.from,
      to,
      'call-id': invite.headers['call-id'],
      cseq: { seq: invite.headers.cseq!.seq, method },
      'max-forwards': '70',
      ...(invite.headers.route ? { route: invite.headers.route } : {}),
    },
    content: '',
  };
}

export function newBranch(): string {
  return `z9hG4bK${randomToken(10)}`;
}

type State = 'calling' | 'proceeding' | 'completed' | 'accepted' | 'terminated';

function synthesize(req: SipRequest, status: number, reason: string): SipResponse {
  return {
    status,
    reason,
    version: '2.0',
    headers: {
      via: req.headers.via,
      from: req.headers.from,
      to: req.headers.to,
      'call-id': req.headers['call-id'],
      cseq: req.headers.cseq,
    },
    content: '',
  };
}

export class ClientTransaction {
  state: State = 'calling';
  readonly branch: string;
  private data?: Buffer;
  private retransmitTimer?: NodeJS.Timeout;
  private timeoutTimer?: NodeJS.Timeout;
  private endTimer?: NodeJS.Timeout;
  private interval: number;
  /** INVITE: a CANCEL asked for before any provisional arrived waits for one (RFC 3261 §9.1). */
  cancelRequested = false;
  gotProvisional = false;

  constructor(
    readonly request: SipRequest,
    readonly peer: AnyPeer,
    private readonly handlers: ClientTransactionHandlers,
    private readonly table: ClientTransactionTable,
  ) {
    this.branch = request.headers.via![0]!.params.branch!;
    this.interval = table.timers.t1;
  }

  get isInvite(): boolean {
    return this.request.method === 'INVITE';
  }

  get key(): string {
    return `${this.branch}|${this.request.method}`;
  }

  get reliable(): boolean {
    return this.peer.transport !== 'udp';
  }

  start(): void {
    const data = serialize(this.request);
    if (!data) {
      this.table.io.onUnserializable();
      return this.fail(500, 'Unserializable Request');
    }
    this.data = data;
    if (!this.table.io.send(this.peer, data)) return this.fail(503, 'Destination Unreachable');
    if (!this.reliable) this.retransmitTimer = setTimeout(() => this.retransmit(), this.interval).unref();
    // Timer B / F.
    this.timeoutTimer = setTimeout(() => this.fail(408, 'Request Timeout'), 64 * this.table.timers.t1).unref();
  }

  /**
   * A transaction resumed after a restart: its INVITE was sent and answered provisionally by the
   * node before, so it waits in Proceeding for the final response (nothing is resent).
   */
  resume(): void {
    this.state = 'proceeding';
    this.gotProvisional = true;
  }

  private retransmit(): void {
    if (this.state !== 'calling' && !(this.state === 'proceeding' && !this.isInvite)) return;
    this.table.io.send(this.peer, this.data!);
    // INVITE doubles without bound (Timer A); non-INVITE caps at T2, and stays at T2 once proceeding.
    const { t2 } = this.table.timers;
    this.interval = this.isInvite ? this.interval * 2 : this.state === 'proceeding' ? t2 : Math.min(this.interval * 2, t2);
    this.retransmitTimer = setTimeout(() => this.retransmit(), this.interval).unref();
  }

  private fail(status: number, reason: string): void {
    if (this.state === 'completed' || this.state === 'terminated' || this.state === 'accepted') return;
    this.terminate();
    this.handlers.onFinal(synthesize(this.request, status, reason));
  }

  receive(res: SipResponse): void {
    const status = res.status;
    if (status < 200) {
      if (this.state !== 'calling' && this.state !== 'proceeding') return;
      if (this.isInvite) {
        clearTimeout(this.retransmitTimer);
        // An INVITE that is ringing waits as long as the caller wants: no Timer B in Proceeding.
        clearTimeout(this.timeoutTimer);
      }
      this.state = 'proceeding';
      this.gotProvisional = true;
      this.handlers.onProvisional?.(res);
      return;
    }
    if (this.state === 'completed') {
      // A retransmitted final: our ACK was lost (INVITE) or nothing to do.
      if (this.isInvite) this.sendAck(res);
      return;
    }
    if (this.state === 'accepted') {
      if (status < 300) this.handlers.onRetransmitted2xx?.(res);
      return;
    }
    if (this.state === 'terminated') return;
    clearTimeout(this.retransmitTimer);
    clearTimeout(this.timeoutTimer);
    if (this.isInvite && status < 300) {
      // RFC 6026: stay to pass 2xx retransmissions to the dialog layer, which ACKs them.
      this.state = 'accepted';
      this.endTimer = setTimeout(() => this.terminate(), 64 * this.table.timers.t1).unref();
    } else {
      this.state = 'completed';
      if (this.isInvite) this.sendAck(res);
      // Timer D (32 s) for INVITE, Timer K (T4) otherwise; nothing to absorb on a reliable transport.
      const { t1, t4 } = this.table.timers;
      const linger = this.reliable ? 0 : this.isInvite ? 64 * t1 : t4;
      this.endTimer = setTimeout(() => this.terminate(), linger).unref();
    }
    this.handlers.onFinal(res);
  }

  /** ACK for a non-2xx final (RFC 3261 §17.1.1.3): same branch, the response's To tag. */
  private sendAck(res: SipResponse): void {
    const ack = requestOnInvite(this.request, 'ACK', res.headers.to);
    ack.headers.via = [this.request.headers.via![0]!];
    const data = serialize(ack);
    if (data) this.table.io.send(this.peer, data);
    else this.table.io.onUnserializable();
  }

  terminate(): void {
    this.state = 'terminated';
    clearTimeout(this.retransmitTimer);
    clearTimeout(this.timeoutTimer);
    clearTimeout(this.endTimer);
    this.table.remove(this);
  }
}

export class ClientTransactionTable {
  private readonly transactions = new Map<string, ClientTransaction>();

  constructor(
    readonly io: ClientTransportIO,
    readonly timers: SipTimers = RFC_TIMERS,
  ) {}

  get size(): number {
    return this.transactions.size;
  }

  /**
   * Sends a request in a new transaction. The request must not carry our Via yet: it is added here
   * (with a fresh branch and rport) on top of any Via it has.
   */
  send(request: SipRequest, peer: AnyPeer, handlers: ClientTransactionHandlers, branch = newBranch()): ClientTransaction {
    const { host, port } = this.io.sentBy(peer.transport);
    const via: Via = { version: '2.0', protocol: peer.transport.toUpperCase(), host, port, params: { branch, rport: null } };
    request.headers.via = [via, ...(request.headers.via ?? [])];
    const tx = new ClientTransaction(request, peer, handlers, this);
    this.transactions.set(tx.key, tx);
    tx.start();
    return tx;
  }

  /** Takes over an INVITE a previous run of this node sent (see ClientTransaction.resume). */
  resume(request: SipRequest, peer: AnyPeer, handlers: ClientTransactionHandlers, branch: string): ClientTransaction {
    const { host, port } = this.io.sentBy(peer.transport);
    request.headers.via = [{ version: '2.0', protocol: peer.transport.toUpperCase(), host, port, params: { branch, rport: null } }];
    const tx = new ClientTransaction(request, peer, handlers, this);
    this.transactions.set(tx.key, tx);
    tx.resume();
    return tx;
  }

  /** Routes a response to its transaction; false when none matches (a stray response). */
  receive(res: SipResponse): boolean {
    const branch = res.headers.via?.[0]?.params.branch;
    const method = res.headers.cseq?.method;
    if (!branch || !method) return false;
    const tx = this.transactions.get(`${branch}|${method}`);
    if (!tx) return false;
    tx.receive(res);
    return true;
  }

  remove(tx: ClientTransaction): void {
    if (this.transactions.get(tx.key) === tx) this.transactions.delete(tx.key);
  }

  stop(): void {
    for (const tx of [...this.transactions.values()]) tx.terminate();
  }
}
