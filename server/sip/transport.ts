/**
 * UDP and TCP sockets on one address and port. Hands framed messages up with their source, and
 * sends bytes back. Bind and socket errors are reported, never thrown into the event loop.
 *
 * What a stranger can make it hold is bounded where things come in: a datagram from a banned
 * address is dropped before it is parsed, and the others wait per source in a FairInbox (one
 * source's flood fills its own queue, not everyone's); a connection is admitted by the
 * ConnectionAdmission (bans, per source, in all); on a connection, a message must arrive whole
 * within `streamMessageSeconds` of its first byte (and the first one within that of the
 * connection opening), and a connection with no complete message or keep-alive for
 * `tcpIdleSeconds` is closed: bytes dribbled in keep nothing alive.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import type { Logger } from 'pino';
import { ConnectionAdmission, type ConnectionRefusal, type Release } from './connectionAdmission.ts';
import { FairInbox } from './fairInbox.ts';
import { frameDatagram, StreamFramer, type Frame } from './framing.ts';

export type TransportName = 'udp' | 'tcp';

export interface Peer {
  transport: TransportName;
  address: string;
  port: number;
}

export interface Inbound {
  frame: Frame;
  source: Peer;
  /** Set for TCP: answer on the same connection while it is open. */
  connection?: TcpConnection;
}

export interface TransportOptions {
  host: string;
  port: number;
  maxMessageBytes: number;
  tcpIdleSeconds: number;
  tcpMaxConnections: number;
  /** Connections one address may hold open at once. */
  connectionsPerSource: number;
  /** How long a message on a connection may take from its first byte to its last. */
  streamMessageSeconds: number;
  /** Datagrams one address may have waiting to be parsed. */
  udpBacklogPerSource: number;
}

export type ConnectionTimeout = 'message-deadline' | 'idle';

/** What the transport reports upwards. */
export interface TransportEvents {
  inbound(inbound: Inbound): void;
  /** False for addresses whose datagrams, connections and messages are dropped unread (bans). */
  admit(address: string): boolean;
  dropped(reason: 'banned-source' | 'source-backlog'): void;
  connectionRefused(reason: ConnectionRefusal): void;
  connectionTimedOut(reason: ConnectionTimeout): void;
}

export interface TransportStats {
  tcpConnections: number;
}

export class TcpConnection {
  readonly framer: StreamFramer;
  /** When a complete message or keep-alive last came, or we last sent: for the idle timeout. */
  lastActivity = Date.now();
  /** When the message being received began (or the connection opened, until its first message). */
  messageStartedAt: number | undefined;

  constructor(
    readonly socket: net.Socket,
    readonly peer: Peer,
    maxBytes: number,
    readonly release: Release,
    inbound: boolean,
  ) {
    this.framer = new StreamFramer(maxBytes);
    if (inbound) this.messageStartedAt = this.lastActivity;
  }

  get open(): boolean {
    return !this.socket.destroyed && this.socket.writable;
  }

  /** Bookkeeping after bytes arrived and `frames` complete frames came out of them. */
  received(frames: number, now: number): void {
    if (frames > 0) {
      this.lastActivity = now;
      this.messageStartedAt = undefined;
    }
    if (this.framer.pending) this.messageStartedAt ??= now;
  }

  /** Why the connection has run out of time at `now`, if it has. */
  overdue(now: number, messageMs: number, idleMs: number): ConnectionTimeout | undefined {
    if (this.messageStartedAt !== undefined && now - this.messageStartedAt >= messageMs) return 'message-deadline';
    if (now - this.lastActivity >= idleMs) return 'idle';
    return undefined;
  }
}

const peerKey = (address: string, port: number) => `${address}:${port}`;

/** Datagrams waiting in all, whatever their sources. */
const UDP_BACKLOG_TOTAL = 16_384;
/** How long parsing may hold the event loop before the socket is read again. */
const UDP_DRAIN_SLICE_MS = 0.25;

interface Datagram {
  buf: Buffer;
  address: string;
  port: number;
}

export class Transport {
  private udp?: dgram.Socket;
  private tcp?: net.Server;
  private readonly connections = new Map<string, TcpConnection>();
  /** Every open connection, for the deadline sweep (`connections` holds the latest per peer). */
  private readonly open = new Set<TcpConnection>();
  private readonly admission: ConnectionAdmission;
  private readonly inbox: FairInbox<Datagram>;
  private sweeper?: NodeJS.Timeout;
  /** The bound UDP/TCP port (differs from the option when it was 0). */
  port = 0;

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
        this.events.inbound({ frame, source: { transport: 'udp', address, port } });
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
    udp.on('error', (err) => this.log.error({ err }, 'UDP socket error'));
    udp.on('message', (buf, rinfo) => {
      if (!this.events.admit(rinfo.address)) return this.events.dropped('banned-source');
      this.inbox.push(rinfo.address, { buf, address: rinfo.address, port: rinfo.port });
    });

    const tcp = net.createServer({ noDelay: true }, (socket) => this.accept(socket, 'tcp'));
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ port: this.port, host, backlog: 1024 }, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      udp.close();
      throw err;
    }
    tcp.on('error', (err) => this.log.error({ err }, 'TCP server error'));
    this.tcp = tcp;
    const messageMs = this.options.streamMessageSeconds * 1000;
    this.sweeper = setInterval(() => this.sweep(), Math.min(1000, Math.max(100, messageMs / 4))).unref();
  }

  /** A connection a peer opened: admitted (or closed at once, unread) whatever transport carries it. */
  private accept(socket: net.Socket, transport: TransportName): void {
    const address = socket.remoteAddress?.replace(/^::ffff:/, '') ?? '';
    const admitted = this.admission.inbound(address);
    if (typeof admitted === 'string') {
      this.events.connectionRefused(admitted);
      socket.on('error', () => {});
      socket.destroy();
      return;
    }
    this.adopt(socket, { transport, address, port: socket.remotePort ?? 0 }, admitted, true);
  }

  /** Reads frames from a connection (accepted or opened by us) and keeps it findable by its peer. */
  private adopt(socket: net.Socket, peer: Peer, release: Release, inbound: boolean): TcpConnection {
    const conn = new TcpConnection(socket, peer, this.options.maxMessageBytes, release, inbound);
    const key = peerKey(peer.address, peer.port);
    this.connections.set(key, conn);
    this.open.add(conn);
    socket.setNoDelay(true);
    socket.on('error', (err) => {
      this.log.debug({ err: err.message, peer }, 'TCP connection failed');
      socket.destroy();
    });
    socket.on('close', () => {
      release();
      this.open.delete(conn);
      if (this.connections.get(key) === conn) this.connections.delete(key);
    });
    socket.on('data', (chunk: Buffer) => {
      // A source banned while its connection was open: nothing more from it is read.
      if (!this.events.admit(peer.address)) {
        this.events.dropped('banned-source');
        socket.destroy();
        return;
      }
      const frames = conn.framer.push(chunk);
      conn.received(frames.length, Date.now());
      for (const frame of frames) this.events.inbound({ frame, source: conn.peer, connection: conn });
      // An unframeable stream cannot be resynchronised: whatever could be answered was, end it.
      if (conn.framer.fatal) socket.end();
    });
    return conn;
  }

  /** Closes connections whose message is overdue or that have been idle too long. */
  private sweep(): void {
    const now = Date.now();
    const messageMs = this.options.streamMessageSeconds * 1000;
    const idleMs = this.options.tcpIdleSeconds * 1000;
    for (const conn of this.open) {
      const why = conn.overdue(now, messageMs, idleMs);
      if (!why) continue;
      this.log.debug({ peer: conn.peer, why }, 'TCP connection closed');
      this.events.connectionTimedOut(why);
      this.open.delete(conn);
      conn.socket.destroy();
    }
  }

  /**
   * A new connection to a peer we have none with (a provider over TCP, a phone whose connection
   * closed). Writes before the connection is up are queued by the socket; if it fails, the
   * transaction above times out like any unanswered request.
   */
  private connect(peer: Peer): TcpConnection | undefined {
    const release = this.admission.outbound();
    if (typeof release === 'string') {
      this.events.connectionRefused(release);
      return undefined;
    }
    const local = this.options.host === '0.0.0.0' ? {} : { localAddress: this.options.host };
    const socket = net.connect({ host: peer.address, port: peer.port, ...local });
    return this.adopt(socket, peer, release, false);
  }

  /** Sends bytes to a peer: by UDP, or over its TCP connection (opened if there is none). */
  send(peer: Peer, data: Buffer, connection?: TcpConnection): boolean {
    if (peer.transport === 'tcp') {
      const existing = connection?.open ? connection : this.connections.get(peerKey(peer.address, peer.port));
      const conn = existing?.open ? existing : this.connect(peer);
      if (!conn || conn.socket.destroyed) {
        this.log.debug({ peer }, 'no TCP connection to send on');
        return false;
      }
      conn.socket.write(data);
      conn.lastActivity = Date.now();
      return true;
    }
    this.udp?.send(data, peer.port, peer.address, (err) => {
      if (err) this.log.warn({ err: err.message, peer }, 'UDP send failed');
    });
    return true;
  }

  stats(): TransportStats {
    return { tcpConnections: this.open.size };
  }

  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    this.inbox.clear();
    for (const conn of this.open) conn.socket.destroy();
    this.open.clear();
    this.connections.clear();
    await Promise.all([
      new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r())),
      new Promise<void>((r) => (this.udp ? this.udp.close(() => r()) : r())),
    ]);
  }
}
