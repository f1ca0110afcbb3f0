/**
 * SIP's sockets: UDP and TCP on one address and port, TLS on its own port, and WebSocket
 * connections handed over by the HTTP servers (webSocketEndpoint.ts). Hands framed messages up
 * with their source, and sends bytes back. Bind and socket errors are reported, never thrown into
 * the event loop.
 *
 * What a stranger can make it hold is bounded where things come in: a datagram from a banned
 * address is dropped before it is parsed, and the others wait per source in a FairInbox (one
 * source's flood fills its own queue, not everyone's); every stream connection, TCP, TLS or
 * WebSocket, is admitted by the one ConnectionAdmission (bans, per source, in all) before a byte
 * of it is read or a TLS handshake is made; on a connection, a message must arrive whole within
 * `streamMessageSeconds` of its first byte (the first one within that of the connection opening,
 * the TLS handshake included), and a connection with no complete message or keep-alive for
 * `tcpIdleSeconds` is closed: bytes dribbled in keep nothing alive.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { ConnectionAdmission, type ConnectionRefusal, type Release } from './connectionAdmission.ts';
import { flowKey, SipConnection, type AnyPeer, type ConnectionTimeout, type TransportName, type Wire } from './connection.ts';
import { FairInbox } from './fairInbox.ts';
import { frameDatagram, type Frame } from './framing.ts';
import type { SipMessage } from './message.ts';
import type { CertificateStore } from './tlsCertificates.ts';

export { isConnectionBound, isEncrypted, isTransportName, TRANSPORTS, flowKey, type AnyPeer, type ConnectionTimeout, type Peer, type TransportName } from './connection.ts';
export type { SipConnection } from './connection.ts';

export interface Inbound {
  frame: Frame;
  source: AnyPeer;
  /** Set for connections: answer on the same connection while it is open. */
  connection?: SipConnection;
}

/**
 * A SIP message passing the wire, for call traces: received as parsed (the bytes are not kept past
 * framing), sent as the bytes that went out.
 */
export type WireEvent = { direction: 'in'; at: number; peer: AnyPeer; message: SipMessage } | { direction: 'out'; at: number; peer: AnyPeer; data: Buffer };

export interface TransportOptions {
  host: string;
  port: number;
  maxMessageBytes: number;
  tcpIdleSeconds: number;
  tcpMaxConnections: number;
  /** Stream connections (TCP, TLS, WebSocket) one address may hold open at once. */
  connectionsPerSource: number;
  /** How long a message on a connection may take from its first byte to its last. */
  streamMessageSeconds: number;
  /** Datagrams one address may have waiting to be parsed; beyond it its newest are dropped. */
  udpBacklogPerSource: number;
  /** SIP over TLS: the port (0: any free one) and the certificates; absent: no TLS listener. */
  tls?: { port: number; certificates: CertificateStore; trustedCa?: string[] };
}

/** Why a connection was refused: by admission, or at its TLS handshake or WebSocket upgrade. */
export type StreamRefusal = ConnectionRefusal | 'tls-handshake' | 'tls-certificate' | 'websocket-origin' | 'websocket-upgrade';

/** What the transport reports upwards. */
export interface TransportEvents {
  inbound(inbound: Inbound): void;
  /** False for addresses whose datagrams, connections and messages are dropped unread (bans). */
  admit(address: string): boolean;
  dropped(reason: 'banned-source' | 'source-backlog'): void;
  connectionRefused(reason: StreamRefusal): void;
  connectionTimedOut(reason: ConnectionTimeout): void;
  /** A connection ended, for whatever reason: what was bound to it goes (flowBindings.ts). */
  connectionClosed?(connection: SipConnection): void;
}

export interface TransportStats {
  /** Open stream connections of every kind (TCP, TLS, WebSocket). */
  tcpConnections: number;
  byTransport: Partial<Record<TransportName, number>>;
}

/** Datagrams waiting in all, whatever their sources. */
const UDP_BACKLOG_TOTAL = 16_384;
/** How long parsing may hold the event loop before the socket is read again. */
const UDP_DRAIN_SLICE_MS = 0.25;

interface Datagram {
  buf: Buffer;
  address: string;
  port: number;
}

const socketWire = (socket: net.Socket): Wire => ({
  write: (data) => void socket.write(data),
  close: () => void socket.destroy(),
  get writable() {
    return !socket.destroyed && socket.writable;
  },
});

export const unmapped = (address: string | undefined): string => address?.replace(/^::ffff:/, '') ?? '';

export class Transport {
  private udp?: dgram.Socket;
  private tcp?: net.Server;
  private tlsServer?: tls.Server;
  /** The latest connection of each flow (transport, address, port). */
  private readonly connections = new Map<string, SipConnection>();
  /** Every open connection, for the deadline sweep. */
  private readonly open = new Set<SipConnection>();
  readonly admission: ConnectionAdmission;
  private readonly inbox: FairInbox<Datagram>;
  private sweeper?: NodeJS.Timeout;
  /** The bound UDP/TCP port (differs from the option when it was 0). */
  port = 0;
  /** Ports bound per transport: TLS here, WebSocket where the HTTP servers listen (`listening`). */
  readonly ports: Partial<Record<TransportName, number>> = {};

  constructor(
    private readonly options: TransportOptions,
    private readonly events: TransportEvents,
    private readonly log: Logger,
  ) {
    this.admission = new ConnectionAdmission({ perSource: options.connectionsPerSource, total: options.tcpMaxConnections }, (a) => events.admit(a));
    this.inbox = new FairInbox<Datagram>(
      { perSource: options.udpBacklogPerSource, total: UDP_BACKLOG_TOTAL, sliceMs: UDP_DRAIN_SLICE_MS },
      ({ buf, address, port }) => {
        const frame = frameDatagram(buf, this.options.maxMessageBytes);
        this.deliver({ frame, source: { transport: 'udp', address, port } });
      },
      () => this.events.dropped('source-backlog'),
    );
  }

  async start(): Promise<void> {
    const { host } = this.options;
    const udp = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.options.port, host, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    this.udp = udp;
    this.port = udp.address().port;
    this.ports.udp = this.ports.tcp = this.port;
    udp.on('error', (err) => this.log.error({ err }, 'UDP socket error'));
    udp.on('message', (buf, rinfo) => {
      if (!this.events.admit(rinfo.address)) return this.events.dropped('banned-source');
      this.inbox.push(rinfo.address, { buf, address: rinfo.address, port: rinfo.port });
    });

    try {
      this.tcp = await this.listen(
        net.createServer({ noDelay: true }, (socket) => this.accept(socket, 'tcp')),
        this.port,
        'TCP',
      );
      if (this.options.tls) {
        this.tlsServer = await this.listen(this.createTlsServer(this.options.tls.certificates), this.options.tls.port, 'TLS');
        this.ports.tls = (this.tlsServer.address() as net.AddressInfo).port;
      }
    } catch (err) {
      udp.close();
      this.tcp?.close();
      throw err;
    }
    const messageMs = this.options.streamMessageSeconds * 1000;
    this.sweeper = setInterval(() => this.sweep(), Math.min(1000, Math.max(100, messageMs / 4))).unref();
  }

  private async listen<S extends net.Server>(server: S, port: number, what: string): Promise<S> {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host: this.options.host, backlog: 1024 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error({ err }, `${what} server error`));
    return server;
  }

  /**
   * TLS: a connection is admitted (or closed unread) before its handshake, which must end within
   * the message deadline; a failed handshake (plain text, a scanner, a client that refuses our
   * certificate) is one log line and costs no other connection anything.
   */
  private createTlsServer(certificates: CertificateStore): tls.Server {
    const server = tls.createServer({ ...certificates.serverOptions(), handshakeTimeout: this.options.streamMessageSeconds * 1000 });
    certificates.onReload((pem) => server.setSecureContext(pem));
    // 'connection' carries the raw socket before the handshake (tls.Server has wrapped it already):
    // its place is given back when it closes, which the TLS socket's end brings about.
    server.on('connection', (raw: net.Socket) => {
      const address = unmapped(raw.remoteAddress);
      const admitted = this.admission.inbound(address);
      if (typeof admitted === 'string') {
        this.events.connectionRefused(admitted);
        raw.on('error', () => {});
        raw.destroy();
        return;
      }
      raw.once('close', admitted);
    });
    server.on('secureConnection', (socket: tls.TLSSocket) => {
      const address = unmapped(socket.remoteAddress);
      this.adopt(socketWire(socket), socket, { transport: 'tls', address, port: socket.remotePort ?? 0 }, () => {}, true);
    });
    server.on('tlsClientError', (err: Error & { code?: string }, socket: tls.TLSSocket) => {
      this.events.connectionRefused('tls-handshake');
      this.log.info({ ip: unmapped(socket.remoteAddress), port: socket.remotePort, reason: err.code ?? err.message }, 'TLS connection refused: the handshake failed');
      socket.destroy();
    });
    return server;
  }

  /** A connection a peer opened: admitted (or closed at once, unread) whatever transport carries it. */
  private accept(socket: net.Socket, transport: 'tcp'): void {
    const address = unmapped(socket.remoteAddress);
    const admitted = this.admission.inbound(address);
    if (typeof admitted === 'string') {
      this.events.connectionRefused(admitted);
      socket.on('error', () => {});
      socket.destroy();
      return;
    }
    this.adopt(socketWire(socket), socket, { transport, address, port: socket.remotePort ?? 0 }, admitted, true);
  }

  /** Reads frames from a byte stream (accepted or opened by us) and keeps it findable by its peer. */
  private adopt(wire: Wire, socket: net.Socket, peer: AnyPeer, release: Release, inbound: boolean): SipConnection {
    const conn = this.track(new SipConnection(wire, peer, release, { inbound, maxBytes: this.options.maxMessageBytes }));
    socket.setNoDelay(true);
    socket.on('error', (err) => {
      this.log.debug({ err: err.message, peer }, 'connection failed');
      socket.destroy();
    });
    socket.on('close', () => this.closed(conn));
    socket.on('data', (chunk: Buffer) => this.receive(conn, chunk));
    return conn;
  }

  /**
   * A WebSocket connection the endpoint admitted and upgraded (webSocketEndpoint.ts): each message
   * is one SIP message (RFC 7118 §5), framed like a datagram; a ping frame is a keep-alive.
   */
  adoptMessages(wire: Wire, peer: AnyPeer, release: Release): { connection: SipConnection; message(data: Buffer): void; partial(): void; keepalive(): void; closed(): void } {
    const conn = this.track(new SipConnection(wire, peer, release, { inbound: true }));
    return {
      connection: conn,
      message: (data) => this.receive(conn, data),
      partial: () => conn.partial(Date.now()),
      keepalive: () => conn.received(1, Date.now()),
      closed: () => this.closed(conn),
    };
  }

  /** A listener for a transport opened elsewhere (the WebSocket endpoints on the HTTP servers). */
  listening(transport: TransportName, port: number): void {
    this.ports[transport] = port;
  }

  private track(conn: SipConnection): SipConnection {
    this.connections.set(conn.key, conn);
    this.open.add(conn);
    return conn;
  }

  private closed(conn: SipConnection): void {
    conn.release();
    this.open.delete(conn);
    if (this.connections.get(conn.key) === conn) this.connections.delete(conn.key);
    // At a stop every connection ends at once; the next start forgets their bindings in one go.
    if (!this.stopping) this.events.connectionClosed?.(conn);
  }

  private stopping = false;

  private receive(conn: SipConnection, data: Buffer): void {
    // A source banned while its connection was open: nothing more from it is read.
    if (!this.events.admit(conn.peer.address)) {
      this.events.dropped('banned-source');
      conn.close();
      return;
    }
    const frames = conn.framer ? conn.framer.push(data) : [frameDatagram(data, this.options.maxMessageBytes)];
    conn.received(frames.length, Date.now());
    for (const frame of frames) this.deliver({ frame, source: conn.peer, connection: conn });
    // An unframeable stream cannot be resynchronised: whatever could be answered was, end it.
    if (conn.framer?.fatal) conn.close();
  }

  /** Closes connections whose message is overdue or that have been idle too long. */
  private sweep(): void {
    const now = Date.now();
    const messageMs = this.options.streamMessageSeconds * 1000;
    const idleMs = this.options.tcpIdleSeconds * 1000;
    for (const conn of this.open) {
      const why = conn.overdue(now, messageMs, idleMs);
      if (!why) continue;
      this.log.debug({ peer: conn.peer, why }, 'connection closed');
      this.events.connectionTimedOut(why);
      conn.close();
    }
  }

  /**
   * A new connection to a peer we have none with (a provider over TCP or TLS). Writes before the
   * connection is up are queued by the socket; if it fails, the transaction above times out like
   * any unanswered request. A TLS peer's certificate must be valid for its name (or address): an
   * expired or mismatched one ends the connection with a log line.
   */
  private connect(peer: AnyPeer): SipConnection | undefined {
    if (peer.transport !== 'tcp' && peer.transport !== 'tls') return undefined;
    const release = this.admission.outbound();
    if (typeof release === 'string') {
      this.events.connectionRefused(release);
      return undefined;
    }
    const local = this.options.host === '0.0.0.0' ? {} : { localAddress: this.options.host };
    if (peer.transport === 'tcp') {
      const socket = net.connect({ host: peer.address, port: peer.port, ...local });
      return this.adopt(socketWire(socket), socket, peer, release, false);
    }
    const serverName = peer.serverName ?? peer.address;
    const socket = tls.connect({
      host: peer.address,
      port: peer.port,
      ...local,
      ...(net.isIP(serverName) ? {} : { servername: serverName }),
      checkServerIdentity: (_host, cert) => tls.checkServerIdentity(serverName, cert),
      ...(this.options.tls?.trustedCa ? { ca: [...tls.rootCertificates, ...this.options.tls.trustedCa] } : {}),
    });
    socket.once('error', (err: Error & { code?: string }) => {
      if (socket.authorized || !/CERT|SELF_SIGNED|ERR_TLS_CERT|UNABLE_TO|Hostname/i.test(`${err.code} ${err.message}`)) return;
      this.events.connectionRefused('tls-certificate');
      this.log.warn({ peer, serverName, reason: err.code ?? err.message, detail: err.message }, "TLS connection refused: the peer's certificate is not valid for it");
    });
    return this.adopt(socketWire(socket), socket, peer, release, false);
  }

  /** The open connection of a flow, if any. */
  connectionTo(peer: Pick<AnyPeer, 'transport' | 'address' | 'port'>): SipConnection | undefined {
    const c = this.connections.get(flowKey(peer));
    return c?.open ? c : undefined;
  }

  private wireTap: ((e: WireEvent) => void) | undefined;

  /** Every message received or sent from now on is shown to `tap` too (call traces). */
  setWireTap(tap: (e: WireEvent) => void): void {
    this.wireTap = tap;
  }

  private deliver(inbound: Inbound): void {
    if (this.wireTap && inbound.frame.kind === 'message') this.wireTap({ direction: 'in', at: Date.now(), peer: inbound.source, message: inbound.frame.message });
    this.events.inbound(inbound);
  }

  /**
   * Sends bytes to a peer: by UDP, or over its connection. A TCP or TLS peer with none gets one;
   * a WebSocket peer cannot be connected to, so its message is lost (false) like an unanswered one.
   */
  send(peer: AnyPeer, data: Buffer, connection?: SipConnection): boolean {
    // Stopped: what calls still say on the node's way out (a CANCEL when the dialplan engine, which
    // stops after SIP, ends a dial still ringing) is lost as in a crash, not thrown from a closed socket.
    if (this.stopping) return false;
    if (peer.transport !== 'udp') {
      const conn = (connection?.open ? connection : undefined) ?? this.connectionTo(peer) ?? this.connect(peer);
      if (!conn?.open) {
        this.log.debug({ peer }, 'no connection to send on');
        return false;
      }
      conn.write(data);
      this.wireTap?.({ direction: 'out', at: Date.now(), peer, data });
      return true;
    }
    this.udp?.send(data, peer.port, peer.address, (err) => {
      if (err) this.log.warn({ err: err.message, peer }, 'UDP send failed');
    });
    this.wireTap?.({ direction: 'out', at: Date.now(), peer, data });
    return true;
  }

  stats(): TransportStats {
    const byTransport: TransportStats['byTransport'] = {};
    for (const c of this.open) byTransport[c.peer.transport] = (byTransport[c.peer.transport] ?? 0) + 1;
    return { tcpConnections: this.open.size, byTransport };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.sweeper);
    this.inbox.clear();
    for (const conn of this.open) conn.close();
    this.open.clear();
    this.connections.clear();
    const close = (s: net.Server | undefined) => new Promise<void>((r) => (s ? s.close(() => r()) : r()));
    await Promise.all([close(this.tcp), close(this.tlsServer), new Promise<void>((r) => (this.udp ? this.udp.close(() => r()) : r()))]);
  }
}
