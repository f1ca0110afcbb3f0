/**
 * A client of rtpengine's ng control protocol over UDP: each request is `COOKIE <bencoded dict>`,
 * the reply carries the same cookie. A request is sent again with the same cookie when no reply
 * came (rtpengine recognises the cookie and replays its cached reply instead of acting twice), and
 * fails after its last attempt.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { bdecode, bencode, type BencodeValue } from './bencode.ts';

export type NgDict = { [key: string]: BencodeValue };

export interface NgClientOptions {
  host: string;
  port: number;
  /** Wait this long for a reply before sending again. */
  retryMs?: number;
  /** Sends in all (the first and the repeats). */
  attempts?: number;
}

/** rtpengine answered `result: error`; `reason` is its `error-reason`. */
export class NgCommandError extends Error {
  constructor(
    public readonly command: string,
    public readonly reason: string,
  ) {
    super(`rtpengine refused ${command}: ${reason}`);
  }
}

/** No reply at all to every attempt. */
export class NgTimeoutError extends Error {}

interface Pending {
  resolve(reply: NgDict): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

function localAddressFor(host: string): string | undefined {
  if (host === '::1') return '::1';
  if (host.startsWith('127.')) return '127.0.0.1';
  return undefined;
}

export class NgClient {
  private readonly socket: dgram.Socket;
  private readonly pending = new Map<string, Pending>();
  private readonly prefix = randomBytes(6).toString('hex');
  private seq = 0;
  private readonly ready: Promise<void>;
  private closed = false;
  readonly retryMs: number;
  readonly attempts: number;

  constructor(private readonly opts: NgClientOptions) {
    this.retryMs = opts.retryMs ?? 500;
    this.attempts = opts.attempts ?? 3;
    this.socket = dgram.createSocket(isIPv6(opts.host) ? 'udp6' : 'udp4');
    this.socket.on('message', (msg) => this.onMessage(msg));
    // A reply that cannot be delivered (ICMP port unreachable) surfaces as a socket error on Linux;
    // the request's own timeout reports it, so the socket must not die of it.
    this.socket.on('error', () => {});
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('error', reject);
      // A control port on loopback is answered from loopback: listen there only.
      this.socket.bind(0, localAddressFor(opts.host), () => {
        this.socket.off('error', reject);
        resolve();
      });
    });
  }

  get target(): string {
    return `${this.opts.host}:${this.opts.port}`;
  }

  /** Sends `command` with `args`; resolves with the reply dict when `result` is not `error`. */
  async request(command: string, args: NgDict = {}): Promise<NgDict> {
    if (this.closed) throw new Error('ng client is closed');
    await this.ready;
    const cookie = `${this.prefix}_${(this.seq++).toString(36)}`;
    const packet = Buffer.concat([Buffer.from(`${cookie} `), bencode({ command, ...args })]);
    const reply = await new Promise<NgDict>((resolve, reject) => {
      let sent = 0;
      const send = () => {
        if (sent >= this.attempts) {
          this.pending.delete(cookie);
          reject(new NgTimeoutError(`rtpengine at ${this.target} did not answer ${command} (${this.attempts} attempts, ${this.attempts * this.retryMs} ms)`));
          return;
        }
        sent++;
        this.socket.send(packet, this.opts.port, this.opts.host);
        entry.timer = setTimeout(send, this.retryMs);
      };
      const entry: Pending = { resolve, reject, timer: undefined as unknown as NodeJS.Timeout };
      this.pending.set(cookie, entry);
      send();
    });
    if (reply.result === 'error') throw new NgCommandError(command, String(reply['error-reason'] ?? 'no reason given'));
    return reply;
  }

  private onMessage(msg: Buffer): void {
    const space = msg.indexOf(0x20);
    if (space < 1) return;
    const cookie = msg.toString('latin1', 0, space);
    const p = this.pending.get(cookie);
    if (!p) return; // a late duplicate, or not ours
    this.pending.delete(cookie);
    clearTimeout(p.timer);
    let value: BencodeValue;
    try {
      value = bdecode(msg, space + 1);
    } catch (err) {
      p.reject(new Error(`rtpengine at ${this.target} sent an unreadable reply: ${(err as Error).message}`));
      return;
    }
    if (typeof value !== 'object' || Array.isArray(value)) {
      p.reject(new Error(`rtpengine at ${this.target} sent a reply that is not a dictionary`));
      return;
    }
    p.resolve(value);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const [cookie, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error('ng client closed'));
      this.pending.delete(cookie);
    }
    this.socket.close();
  }
}
