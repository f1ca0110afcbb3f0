/**
 * SIP over WebSocket (RFC 7118) on the portal's HTTP servers: `ws://host:HTTP_PORT/sip` and
 * `wss://host:HTTPS_PORT/sip` (the same certificates as SIP over TLS), subprotocol `sip`.
 *
 * An upgrade is refused, before anything else is done for it, when its source may not open one
 * more connection (the same ConnectionAdmission as TCP and TLS: bans, per source, in all), when
 * it comes from a page of a foreign origin, or when it does not ask for the `sip` subprotocol.
 * A browser always sends `Origin`: it must be the portal's own (the host the request was sent to)
 * or one listed in `SIP_WS_ALLOWED_ORIGINS`; a request without one is not from a browser page and
 * proves itself by digest like any phone.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Transport, StreamRefusal } from './transport.ts';
import { unmapped } from './transport.ts';

export const SIP_WEBSOCKET_PATH = '/sip';

export interface WebSocketEndpointOptions {
  maxMessageBytes: number;
  /** Origins besides the portal's own whose pages may connect (`https://app.example.com`). */
  allowedOrigins: string[];
}

/** `https://Example.com:443/x` → `https://example.com`; undefined when it is no origin. */
export function normalOrigin(text: string): string | undefined {
  try {
    const u = new URL(text);
    return u.origin === 'null' ? undefined : u.origin;
  } catch {
    return undefined;
  }
}

export class WebSocketEndpoint {
  private readonly server: WebSocketServer;
  private readonly allowed: Set<string>;

  constructor(
    o: WebSocketEndpointOptions,
    private readonly transport: Transport,
    private readonly refused: (reason: StreamRefusal) => void,
    private readonly log: Logger,
  ) {
    this.allowed = new Set(o.allowedOrigins.map((a) => normalOrigin(a) ?? a));
    this.server = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: o.maxMessageBytes,
      handleProtocols: (protocols) => (protocols.has('sip') ? 'sip' : false),
    });
  }

  /** Whether the page at `origin` may connect, asked of the host it connected to. */
  originAllowed(origin: string | undefined, host: string | undefined): boolean {
    if (origin === undefined) return true;
    const o = normalOrigin(origin);
    if (!o) return false;
    return (host !== undefined && new URL(o).host === host.toLowerCase()) || this.allowed.has(o);
  }

  /**
   * An HTTP server's `upgrade` event. Returns false for a path that is not ours (another handler
   * may take it); otherwise the socket is taken or refused here.
   */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, transport: 'ws' | 'wss'): boolean {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== SIP_WEBSOCKET_PATH) return false;
    socket.on('error', () => {});
    const address = unmapped(req.socket.remoteAddress);
    const port = req.socket.remotePort ?? 0;
    const refuse = (reason: StreamRefusal, status: number, text: string, detail?: Record<string, unknown>) => {
      this.refused(reason);
      if (detail) this.log.info({ ip: address, port, transport, ...detail }, `WebSocket refused: ${text}`);
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      socket.destroy();
    };
    const origin = req.headers.origin;
    if (!this.originAllowed(origin, req.headers.host)) return (refuse('websocket-origin', 403, 'Origin Not Allowed', { origin, host: req.headers.host }), true);
    const protocols = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim());
    if (!protocols.includes('sip')) return (refuse('websocket-upgrade', 400, 'Subprotocol sip Required', { protocols: req.headers['sec-websocket-protocol'] ?? null }), true);
    const admitted = this.transport.admission.inbound(address);
    if (typeof admitted === 'string') {
      this.refused(admitted);
      socket.destroy();
      return true;
    }
    socket.once('close', admitted);
    this.server.handleUpgrade(req, socket, head, (ws) => this.adopt(ws, socket, { transport, address, port }, admitted));
    return true;
  }

  private adopt(ws: WebSocket, socket: Duplex, peer: { transport: 'ws' | 'wss'; address: string; port: number }, release: () => void): void {
    const flow = this.transport.adoptMessages(
      {
        write: (data) => ws.send(data),
        close: () => ws.terminate(),
        get writable() {
          return ws.readyState === ws.OPEN;
        },
      },
      peer,
      release,
    );
    // Bytes before a whole message (a frame dribbled in) start the message deadline. This listener
    // runs before the WebSocket's own, which clears it again when the bytes complete a message.
    socket.prependListener('data', () => flow.partial());
    ws.on('message', (data: Buffer) => flow.message(data));
    ws.on('ping', () => flow.keepalive());
    ws.on('error', (err) => {
      this.log.debug({ err: err.message, peer }, 'WebSocket failed');
      ws.terminate();
    });
    ws.on('close', () => flow.closed());
  }
}
