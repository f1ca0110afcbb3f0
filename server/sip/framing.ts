/**
 * Turns bytes from the network into SIP messages. Datagrams are one message each; TCP streams are
 * framed by the blank line and Content-Length. Linear in the input however it is chunked, and
 * bounded by the maximum message size (the `sip` package's own framer is neither: see README.md).
 */
import { parseHead, type SipMessage } from './message.ts';

export type Frame =
  | { kind: 'message'; message: SipMessage }
  | { kind: 'keepalive' }
  /** A message we can still answer (with `status`) because its head parsed. */
  | { kind: 'rejected'; status: 400 | 513; reason: string; message: SipMessage }
  /** Bytes that cannot be a SIP message: dropped and counted. */
  | { kind: 'garbage'; reason: GarbageReason };

export type GarbageReason = 'unparseable' | 'oversized' | 'no-header-end' | 'bad-content-length';

const CONTENT_LENGTH = /^(?:content-length|l)[ \t]*:[ \t]*(\S*)[ \t]*$/im;

function skipWhitespace(buf: Buffer, from: number): number {
  let i = from;
  while (i < buf.length && (buf[i] === 0x0d || buf[i] === 0x0a || buf[i] === 0x20 || buf[i] === 0x09)) i++;
  return i;
}

/** Content-Length as written in the head: a number, 'absent', or 'invalid'. */
function contentLengthOf(head: string): number | 'absent' | 'invalid' {
  const m = CONTENT_LENGTH.exec(head);
  if (!m) return 'absent';
  const v = m[1] ?? '';
  return /^\d{1,9}$/.test(v) ? Number(v) : 'invalid';
}

function parseFrame(head: string, body: Buffer): SipMessage | undefined {
  return parseHead(head, body.toString('utf8'));
}

export function frameDatagram(buf: Buffer, maxBytes: number): Frame {
  const start = skipWhitespace(buf, 0);
  if (start === buf.length) return { kind: 'keepalive' };
  const headEnd = buf.indexOf('\r\n\r\n', start);
  if (headEnd < 0 || headEnd - start > maxBytes) {
    return { kind: 'garbage', reason: buf.length > maxBytes ? 'oversized' : 'no-header-end' };
  }
  const head = buf.toString('utf8', start, headEnd);
  let body = buf.subarray(headEnd + 4);
  const declared = contentLengthOf(head);
  const message = parseFrame(head, body.subarray(0, 0));
  if (!message) return { kind: 'garbage', reason: 'unparseable' };
  if (buf.length > maxBytes) return { kind: 'rejected', status: 513, reason: 'Message Too Large', message };
  if (declared === 'invalid') return { kind: 'rejected', status: 400, reason: 'Bad Content-Length', message };
  if (typeof declared === 'number') {
    if (declared > body.length) return { kind: 'rejected', status: 400, reason: 'Truncated Body', message };
    body = body.subarray(0, declared);
  }
  message.content = body.toString('utf8');
  return { kind: 'message', message };
}

/**
 * Frames a TCP byte stream. After a frame that makes the stream unusable (`fatal`), the caller
 * answers if it can and closes the connection.
 */
export class StreamFramer {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Bytes of the current message's head already scanned for the blank line. */
  private scanned = 0;
  private crlfRun = 0;
  private headEnd = -1;
  private bodyLength = -1;
  fatal = false;

  constructor(private readonly maxBytes: number) {}

  /** True while part of a message is buffered (its head or body has begun, not ended). */
  get pending(): boolean {
    return this.buffered > 0 || this.headEnd >= 0;
  }

  push(chunk: Buffer): Frame[] {
    if (this.fatal) return [];
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      const frame = this.next();
      if (!frame) break;
      frames.push(frame);
      if (this.fatal) break;
    }
    return frames;
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    return all.subarray(0, n);
  }

  private fail(frame: Frame): Frame {
    this.fatal = true;
    this.chunks = [];
    this.buffered = 0;
    return frame;
  }

  private next(): Frame | undefined {
    if (this.headEnd < 0) {
      const leading = this.skipLeadingNewlines();
      if (leading) return leading;
      if (!this.findHeadEnd()) {
        if (this.buffered > this.maxBytes) return this.fail({ kind: 'garbage', reason: 'oversized' });
        return undefined;
      }
      const headBytes = this.take(this.headEnd);
      this.take(4);
      const head = headBytes.toString('utf8');
      const message = parseFrame(head, Buffer.alloc(0));
      if (!message) return this.fail({ kind: 'garbage', reason: 'unparseable' });
      const declared = contentLengthOf(head);
      if (declared === 'absent') {
        return this.fail({ kind: 'rejected', status: 400, reason: 'Missing Content-Length', message });
      }
      if (declared === 'invalid') {
        return this.fail({ kind: 'rejected', status: 400, reason: 'Bad Content-Length', message });
      }
      if (this.headEnd + 4 + declared > this.maxBytes) {
        return this.fail({ kind: 'rejected', status: 513, reason: 'Message Too Large', message });
      }
      this.bodyLength = declared;
      this.pendingMessage = message;
    }
    if (this.buffered < this.bodyLength) return undefined;
    const message = this.pendingMessage!;
    message.content = this.take(this.bodyLength).toString('utf8');
    this.headEnd = -1;
    this.bodyLength = -1;
    this.scanned = 0;
    this.crlfRun = 0;
    this.pendingMessage = undefined;
    return { kind: 'message', message };
  }

  private pendingMessage: SipMessage | undefined;

  /** Drops CR/LF before a message; a double CRLF on its own is an RFC 5626 keep-alive ping. */
  private skipLeadingNewlines(): Frame | undefined {
    if (this.scanned > 0) return undefined;
    let skipped = 0;
    let pairs = 0;
    outer: for (const c of this.chunks) {
      for (let i = 0; i < c.length; i++) {
        const b = c[i];
        if (b !== 0x0d && b !== 0x0a) break outer;
        skipped++;
        if (b === 0x0a) pairs++;
      }
    }
    if (skipped === 0) return undefined;
    this.take(skipped);
    return pairs >= 2 ? { kind: 'keepalive' } : undefined;
  }

  /** Scans only bytes not seen before, so a message dribbled in one byte at a time stays linear. */
  private findHeadEnd(): boolean {
    let offset = 0;
    for (const c of this.chunks) {
      if (offset + c.length <= this.scanned) {
        offset += c.length;
        continue;
      }
      for (let i = Math.max(0, this.scanned - offset); i < c.length; i++) {
        const b = c[i];
        const expected = this.crlfRun % 2 === 0 ? 0x0d : 0x0a;
        if (b === expected) this.crlfRun++;
        else this.crlfRun = b === 0x0d ? 1 : 0;
        if (this.crlfRun === 4) {
          this.headEnd = offset + i - 3;
          this.scanned = 0;
          return true;
        }
      }
      offset += c.length;
      this.scanned = offset;
    }
    return false;
  }
}
