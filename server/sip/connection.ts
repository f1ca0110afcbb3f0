/**
 * One stream connection carrying SIP, whatever carries it: TCP, TLS or a WebSocket. The transport
 * keeps its deadlines (a message must be whole in time, an idle connection ends) and finds it by
 * its peer, so that a phone registered over it is reached over it (RFC 5626 style flows).
 */
import { StreamFramer } from './framing.ts';
import type { Release } from './connectionAdmission.ts';

export const TRANSPORTS = ['udp', 'tcp', 'tls', 'ws', 'wss'] as const;
export type TransportName = (typeof TRANSPORTS)[number];

export function isTransportName(t: string): t is TransportName {
  return (TRANSPORTS as readonly string[]).includes(t);
}

/** Encrypted transports: what a call leg over them may call "encrypted" (signalling; media is SRTP's business). */
export const isEncrypted = (t: TransportName): boolean => t === 'tls' || t === 'wss';

/**
 * Transports a phone can be reached over only by the connection it opened: we cannot open a
 * connection to a browser, nor (in practice) to a phone behind NAT, whose connection's source port
 * listens for nothing else. Their bindings live as long as their connection.
 */
export const isConnectionBound = (t: TransportName): boolean => t !== 'udp';

export interface Peer<T extends TransportName = TransportName> {
  transport: T;
  address: string;
  port: number;
  /**
   * A connection we open over TLS checks the peer's certificate against this name (a provider's
   * host); without it, against the address.
   */
  serverName?: string;
}

/** A peer over any transport SIP speaks. */
export type AnyPeer = Peer<TransportName>;

/** The flow a peer names: a transport, a remote address and port (one connection at a time). */
export const flowKey = (p: Pick<AnyPeer, 'transport' | 'address' | 'port'>): string => `${p.transport}|${p.address}|${p.port}`;

export type ConnectionTimeout = 'message-deadline' | 'idle';

/** What a connection writes to and ends: a socket, or a WebSocket. */
export interface Wire {
  write(data: Buffer | string): void;
  close(): void;
  readonly writable: boolean;
}

export class SipConnection {
  /** Set for byte streams (TCP, TLS); a WebSocket delivers whole messages. */
  readonly framer: StreamFramer | undefined;
  /** When a complete message or keep-alive last came, or we last sent: for the idle timeout. */
  lastActivity = Date.now();
  /** When the message being received began (or the connection opened, until its first message). */
  messageStartedAt: number | undefined;
  /**
   * Not closed for idleness before this: a registration over the connection lasts until then, and
   * its phone need send nothing before it refreshes it (like Kamailio's tcp_persistent_flag).
   */
  keepUntil = 0;

  constructor(
    readonly wire: Wire,
    readonly peer: AnyPeer,
    readonly release: Release,
    o: { inbound: boolean; maxBytes?: number },
  ) {
    this.framer = o.maxBytes === undefined ? undefined : new StreamFramer(o.maxBytes);
    if (o.inbound) this.messageStartedAt = this.lastActivity;
  }

  get open(): boolean {
    return this.wire.writable;
  }

  get key(): string {
    return flowKey(this.peer);
  }

  write(data: Buffer | string): void {
    this.wire.write(data);
    this.lastActivity = Date.now();
  }

  close(): void {
    this.wire.close();
  }

  /** Bytes of a message arrived that did not complete it (a WebSocket frame under way). */
  partial(now: number): void {
    this.messageStartedAt ??= now;
  }

  /** Bookkeeping after bytes arrived and `frames` complete frames came out of them. */
  received(frames: number, now: number): void {
    if (frames > 0) {
      this.lastActivity = now;
      this.messageStartedAt = undefined;
    }
    if (this.framer?.pending) this.messageStartedAt ??= now;
  }

  /** Why the connection has run out of time at `now`, if it has. */
  overdue(now: number, messageMs: number, idleMs: number): ConnectionTimeout | undefined {
    if (this.messageStartedAt !== undefined && now - this.messageStartedAt >= messageMs) return 'message-deadline';
    if (now - this.lastActivity >= idleMs && now >= this.keepUntil) return 'idle';
    return undefined;
  }
}
