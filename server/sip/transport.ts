/**
 * UDP and TCP sockets on one address and port. Hands framed messages up with their source, and
 * sends bytes back. Bind and socket errors are reported, never thrown into the event loop.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import type { Logger } from 'pino';
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
}

export interface TransportStats {
  tcpConnections: number;
}

export class TcpConnection {
  readonly framer: StreamFramer;
  constructor(
    readonly socket: net.Socket,
    readonly peer: Peer,
    maxBytes: number,
  ) {
    this.framer = new StreamFramer(maxBytes);
  }
  get open(): boolean {
    return !this.socket.destroyed && this.socket.writable;
  }
}

const peerKey = (address: string, port: number) => `${address}:${port}`;

export class Transport {
  private udp?: dgram.Socket;
  private tcp?: net.Server;
  private readonly connections = new Map<string, TcpConnection>();
  /** The bound UDP/TCP port (differs from the option when it was 0). */
  port = 0;

  constructor(
    private readonly options: TransportOptions,
    private readonly onInbound: (inbound: Inbound) => void,
    private readonly log: Logger,
  ) {}

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
      const frame = frameDatagram(buf, this.options.maxMessageBytes);
      this.onInbound({ frame, source: { transport: 'udp', address: rinfo.address, port: rinfo.port } });
    });

    const tcp = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    tcp.maxConnections = this.options.tcpMaxConnections;
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
  }

  private accept(socket: net.Socket): void {
    const address = socket.remoteAddress?.replace(/^::ffff:/, '') ?? '';
    this.adopt(socket, { transport: 'tcp', address, port: socket.remotePort ?? 0 });
  }

  /** Reads frames from a connection (accepted or opened by us) and keeps it findable by its peer. */
  private adopt(socket: net.Socket, peer: Peer): TcpConnection {
    const conn = new TcpConnection(socket, peer, this.options.maxMessageBytes);
    const key = peerKey(peer.address, peer.port);
    this.connections.set(key, conn);
    socket.setNoDelay(true);
    socket.setTimeout(this.options.tcpIdleSeconds * 1000, () => socket.destroy());
    socket.on('error', (err) => {
      this.log.debug({ err: err.message, peer }, 'TCP connection failed');
      socket.destroy();
    });
    socket.on('close', () => {
      if (this.connections.get(key) === conn) this.connections.delete(key);
    });
    socket.on('data', (chunk: Buffer) => {
      for (const frame of conn.framer.push(chunk)) {
        this.onInbound({ frame, source: conn.peer, connection: conn });
      }
      // An unframeable stream cannot be resynchronised: whatever could be answered was, end it.
      if (conn.framer.fatal) socket.end();
    });
    return conn;
  }

  /**
   * A new connection to a peer we have none with (a provider over TCP, a phone whose connection
   * closed). Writes before the connection is up are queued by the socket; if it fails, the
   * transaction above times out like any unanswered request.
   */
  private connect(peer: Peer): TcpConnection | undefined {
    if (this.connections.size >= this.options.tcpMaxConnections) return undefined;
    const local = this.options.host === '0.0.0.0' ? {} : { localAddress: this.options.host };
    const socket = net.connect({ host: peer.address, port: peer.port, ...local });
    return this.adopt(socket, peer);
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
      return true;
    }
    this.udp?.send(data, peer.port, peer.address, (err) => {
      if (err) this.log.warn({ err: err.message, peer }, 'UDP send failed');
    });
    return true;
  }

  stats(): TransportStats {
    return { tcpConnections: this.connections.size };
  }

  async stop(): Promise<void> {
    for (const conn of this.connections.values()) conn.socket.destroy();
    this.connections.clear();
    await Promise.all([
      new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r())),
      new Promise<void>((r) => (this.udp ? this.udp.close(() => r()) : r())),
    ]);
  }
}
