/**
 * The SIP endpoint: transport → framing → validation → server transactions → request pipeline.
 * Everything below the pipeline is protocol mechanics; what to do with a request is the pipeline's
 * business (see pipeline.ts).
 */
import { FrontDoors } from './frontDoor.ts';
import type { Logger } from 'pino';
import type { Metrics } from '../observability/metrics.ts';
import { isRequest, serialize, type SipRequest, type Via } from './message.ts';
import { buildResponse, newTag } from './responses.ts';
import { ClientTransactionTable, newBranch, RFC_TIMERS, type SipTimers } from './clientTransactions.ts';
import { ServerTransaction, TransactionTable } from './transactions.ts';
import { Transport, type Inbound, type AnyPeer, type SipConnection, type TransportName, type TransportOptions } from './transport.ts';
import { canAnswer, validateRequest } from './validate.ts';
import type { RequestAdmission } from './floodLimit.ts';
import { methodLabel, statusClassLabel, statusLabel } from './metricLabels.ts';

export type RequestHandler = (tx: ServerTransaction<AnyPeer>) => Promise<void>;

const MAGIC_COOKIE = 'z9hG4bK';

/** RFC 3261 §17.2.3: branch + sent-by + method, with ACK matching its INVITE. */
function transactionKey(req: SipRequest, via: Via): string {
  const method = req.method === 'ACK' ? 'INVITE' : req.method;
  const branch = via.params.branch ?? '';
  if (branch.startsWith(MAGIC_COOKIE)) return `${branch}|${via.host}:${via.port ?? ''}|${method}`;
  // RFC 2543 peers: no usable branch, so match on the dialog and sequence identifiers.
  const fromTag = req.headers.from?.params.tag ?? '';
  return `${req.headers['call-id']}|${req.headers.cseq?.seq}|${fromTag}|${via.host}:${via.port ?? ''}|${method}`;
}

/** The INVITE server transaction a CANCEL refers to (RFC 3261 §9.2: same branch and sent-by). */
export function inviteKeyForCancel(cancel: SipRequest): string | undefined {
  const via = cancel.headers.via?.[0];
  return via ? transactionKey({ ...cancel, method: 'INVITE' }, via) : undefined;
}

/** Where a response to this Via goes (RFC 3261 §18.2.2 with RFC 3581 rport). */
function responsePeer(via: Via, source: AnyPeer): AnyPeer {
  if (source.transport !== 'udp') return source;
  const port = 'rport' in via.params ? source.port : (via.port ?? 5060);
  return { transport: 'udp', address: source.address, port };
}

/** Records where the request really came from in its top Via (RFC 3261 §18.2.1, RFC 3581). */
function stampVia(via: Via, source: AnyPeer): void {
  if ('rport' in via.params) {
    via.params.rport = String(source.port);
    via.params.received = source.address;
  } else if (via.host !== source.address) {
    via.params.received = source.address;
  }
}

export interface SipStackOptions extends TransportOptions {
  answerDeadlineMs?: number;
  /** RFC 3261 timers for client transactions (tests shorten them). */
  timers?: SipTimers;
  /** False drops a source's datagrams and connections unread, before any work is done for them (bans). */
  admit?: (address: string) => boolean;
  /** False drops a new request unanswered before it becomes a transaction (flood limits). */
  admitRequest?: RequestAdmission;
  /** The address in our Via and Contact headers when it is not the bind address (NAT, 0.0.0.0); port null: the bound one. */
  advertised?: { host: string; port: number | null };
  /** A connection ended (what was registered over it goes). */
  connectionClosed?: (connection: SipConnection) => void;
  /** The cluster's front doors (`ip:port`): their requests' real source is what they say (frontDoor.ts). */
  frontDoors?: readonly string[];
}

export class SipStack {
  readonly transport: Transport;
  readonly transactions: TransactionTable;
  readonly clientTransactions: ClientTransactionTable;
  private inFlight = 0;

  private readonly frontDoors: FrontDoors;

  constructor(
    private readonly options: SipStackOptions,
    private readonly handler: RequestHandler,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {
    const admit = options.admit ?? (() => true);
    this.frontDoors = new FrontDoors(options.frontDoors ?? []);
    this.transport = new Transport(
      options,
      {
        inbound: (inbound) => this.receive(inbound),
        admit,
        dropped: (reason) => metrics.sipDropped.inc({ reason }),
        connectionRefused: (reason) => metrics.sipConnectionsRefused.inc({ reason }),
        connectionTimedOut: (reason) => metrics.sipConnectionsTimedOut.inc({ reason }),
        ...(options.connectionClosed ? { connectionClosed: options.connectionClosed } : {}),
      },
      log,
    );
    this.transactions = new TransactionTable(
      {
        send: (peer, data, connection) => this.transport.send(peer, data, connection),
        onResponseSent: (status) => metrics.sipResponsesSent.inc({ status: statusLabel(status) }),
        onUnserializable: () => metrics.sipDropped.inc({ reason: 'unserializable-response' }),
      },
      { answerDeadlineMs: options.answerDeadlineMs ?? 10_000 },
    );
    this.clientTransactions = new ClientTransactionTable(
      {
        send: (peer, data) => this.transport.send(peer, data),
        sentBy: (transport) => this.sentBy(transport),
        onUnserializable: () => metrics.sipDropped.inc({ reason: 'unserializable-request' }),
      },
      options.timers ?? RFC_TIMERS,
    );
  }

  get port(): number {
    return this.transport.port;
  }

  /**
   * Where this node says it is, in Via and Contact headers: the advertised address, with the port
   * of the transport (TLS and WebSocket listen on ports of their own).
   */
  sentBy(transport: TransportName = 'udp'): { host: string; port: number } {
    const a = this.options.advertised;
    const own = transport === 'udp' || transport === 'tcp' ? undefined : this.transport.ports[transport];
    return { host: a?.host ?? this.options.host, port: own ?? a?.port ?? this.port };
  }

  async start(): Promise<void> {
    await this.transport.start();
    this.transactions.start();
    // Sampled, not set per request: off the hot path, and true also once traffic stops.
    this.sampler = setInterval(() => this.metrics.sipServerTransactions.set(this.transactions.size), 1000).unref();
  }

  private sampler?: NodeJS.Timeout;

  async stop(): Promise<void> {
    clearInterval(this.sampler);
    this.transactions.stop();
    this.clientTransactions.stop();
    await this.transport.stop();
  }

  /** Sends a request outside any transaction: an ACK for a 2xx (RFC 3261 §13.2.2.4). */
  sendStateless(req: SipRequest, peer: AnyPeer): void {
    const { host, port } = this.sentBy(peer.transport);
    req.headers.via = [{ version: '2.0', protocol: peer.transport.toUpperCase(), host, port, params: { branch: newBranch(), rport: null } }];
    const data = serialize(req);
    if (data) this.transport.send(peer, data);
    else this.metrics.sipDropped.inc({ reason: 'unserializable-request' });
  }

  /** Our Contact for dialogs on a transport. */
  contact(transport: AnyPeer['transport']): string {
    return `<${this.contactUri(transport)}>`;
  }

  /** A SIP URI that reaches this node, e.g. the Contact we register at a provider. */
  contactUri(transport: AnyPeer['transport'], user?: string, params: Record<string, string> = {}): string {
    const userPart = user ? `${user}@` : ''; // callers pass validated user parts
    const extra = Object.entries(params)
      .map(([k, v]) => `;${k}=${v}`)
      .join('');
    const { host, port } = this.sentBy(transport);
    return `sip:${userPart}${host}:${port}${transport === 'udp' ? '' : `;transport=${transport}`}${extra}`;
  }

  /** Requests currently inside the pipeline (for draining on shutdown). */
  get busy(): number {
    return this.inFlight;
  }

  private receive({ frame, source, connection }: Inbound): void {
    switch (frame.kind) {
      case 'keepalive':
        // RFC 5626 §3.5.1: answer a CRLFCRLF ping on a stream with a CRLF pong.
        if (connection?.open) connection.write('\r\n');
        return;
      case 'garbage':
        this.metrics.sipDropped.inc({ reason: frame.reason });
        return;
      case 'rejected': {
        const m = frame.message;
        if (isRequest(m) && canAnswer(m)) this.reject(m, source, connection, frame.status, frame.reason);
        else this.metrics.sipDropped.inc({ reason: 'unanswerable' });
        return;
      }
      case 'message':
        break;
    }
    const m = frame.message;
    if (!isRequest(m)) {
      this.metrics.sipMessagesReceived.inc({ transport: source.transport, kind: statusClassLabel(m.status) });
      // A response no transaction of ours is waiting for is dropped (RFC 3261 §18.1.2).
      if (!this.clientTransactions.receive(m)) this.metrics.sipDropped.inc({ reason: 'unmatched-response' });
      return;
    }
    this.metrics.sipMessagesReceived.inc({ transport: source.transport, kind: methodLabel(m.method) });
    const problem = validateRequest(m);
    if (problem) {
      if (canAnswer(m)) this.reject(m, source, connection, problem.status, problem.reason);
      else this.metrics.sipDropped.inc({ reason: 'invalid-unanswerable' });
      return;
    }
    const via = m.headers.via![0]!;
    stampVia(via, source);
    const key = transactionKey(m, via);
    const existing = this.transactions.find(key);
    if (m.method === 'ACK') {
      if (existing?.isInvite && existing.finalStatus >= 300) this.transactions.ack(existing);
      else if (!this.transactions.acknowledge(m)) this.metrics.sipDropped.inc({ reason: 'unmatched-ack' });
      return;
    }
    if (existing) {
      existing.retransmitted();
      return;
    }
    const origin = this.frontDoors.originOf(m, source);
    if (this.options.admitRequest && !this.options.admitRequest(m, origin)) {
      this.metrics.sipDropped.inc({ reason: 'rate-limited' });
      return;
    }
    const tx = new ServerTransaction(key, m, responsePeer(via, source), origin, connection, this.transactions);
    this.transactions.add(tx);
    this.dispatch(tx);
  }

  private dispatch(tx: ServerTransaction<AnyPeer>): void {
    this.inFlight++;
    this.handler(tx)
      .catch((err: unknown) => {
        this.log.error({ err, method: tx.request.method, callId: tx.request.headers['call-id'] }, 'request handler failed');
      })
      .finally(() => {
        this.inFlight--;
        // Every request gets a final response, whatever the handler did.
        if (!tx.answered) tx.respond(500, 'Server Internal Error');
      });
  }

  /** Answers a request that never becomes a transaction (it failed validation or framing). */
  private reject(req: SipRequest, source: AnyPeer, connection: SipConnection | undefined, status: number, reason: string): void {
    const via = req.headers.via![0]!;
    stampVia(via, source);
    const data = serialize(buildResponse(req, status, reason, newTag()));
    if (!data) {
      this.metrics.sipDropped.inc({ reason: 'unserializable-response' });
      return;
    }
    this.transport.send(responsePeer(via, source), data, connection);
    this.metrics.sipResponsesSent.inc({ status: statusLabel(status) });
  }
}
