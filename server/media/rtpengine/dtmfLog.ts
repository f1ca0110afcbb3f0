/**
 * DTMF events from rtpengine: started with `--dtmf-log-dest`, it sends one JSON datagram per
 * RFC 4733 event it relays (`{callid, source_tag, event, duration, ...}`, duration in ms). This is
 * the socket they arrive on, on loopback, and only from the daemon's own address.
 */
import dgram from 'node:dgram';
import type { MediaEvent } from '../engine.ts';

const DIGITS = '0123456789*#ABCD';

export class DtmfLog {
  private constructor(private readonly socket: dgram.Socket) {}

  /**
   * Listens on 127.0.0.1, on `port` if given and free (where a daemon left running by a previous
   * run sends), else on a free one; `emit` gets each event as a `media.dtmf`.
   */
  static async open(emit: (event: MediaEvent) => void, port = 0): Promise<DtmfLog> {
    const bind = (p: number) => {
      const socket = dgram.createSocket('udp4');
      return new Promise<dgram.Socket | undefined>((resolve) => {
        socket.once('error', () => {
          socket.close();
          resolve(undefined);
        });
        socket.bind(p, '127.0.0.1', () => {
          socket.removeAllListeners('error');
          resolve(socket);
        });
      });
    };
    const socket = (port ? await bind(port) : undefined) ?? (await bind(0));
    if (!socket) throw new Error('cannot bind a UDP socket on 127.0.0.1 for DTMF events');
    socket.on('error', () => {});
    socket.on('message', (msg, from) => {
      if (from.address !== '127.0.0.1') return;
      const event = parse(msg);
      if (event) emit(event);
    });
    return new DtmfLog(socket);
  }

  /** `host:port` for `--dtmf-log-dest`. */
  get destination(): string {
    const a = this.socket.address();
    return `${a.address}:${a.port}`;
  }

  close(): void {
    this.socket.close();
  }
}

function parse(msg: Buffer): MediaEvent | undefined {
  let v: unknown;
  try {
    v = JSON.parse(msg.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const event = o.event;
  if (typeof o.callid !== 'string' || typeof o.source_tag !== 'string' || typeof event !== 'number' || !Number.isInteger(event) || event < 0 || event >= DIGITS.length)
    return undefined;
  return { type: 'media.dtmf', callId: o.callid, tag: o.source_tag, digit: DIGITS[event]!, durationMs: typeof o.duration === 'number' ? o.duration : 0 };
}
