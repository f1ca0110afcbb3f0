/**
 * A phone's media side for tests: a real UDP socket on 127.0.0.1 that sends real RTP (PCMU, 20 ms,
 * a payload that names the sender and the packet) and keeps what it receives. Its SDP claims an
 * address where nothing listens (127.0.0.99 by default), as a phone behind NAT does: audio reaches
 * it only if the relay sends to where its packets come from.
 */
import dgram from 'node:dgram';

export const PCMU = 0;
export const TELEPHONE_EVENT = 101;

export interface Received {
  pt: number;
  seq: number;
  ssrc: number;
  payload: Buffer;
}

export class RtpPhone {
  readonly received: Received[] = [];
  readonly receivedRtcp: Buffer[] = [];
  private seq = Math.floor(Math.random() * 1000);
  private timestamp = 0;
  readonly ssrc = Math.floor(Math.random() * 2 ** 31);

  private constructor(
    readonly name: string,
    private readonly rtp: dgram.Socket,
    private readonly rtcp: dgram.Socket,
  ) {
    rtp.on('message', (msg) => {
      if (msg.length < 12) return;
      this.received.push({ pt: msg[1]! & 0x7f, seq: msg.readUInt16BE(2), ssrc: msg.readUInt32BE(8), payload: msg.subarray(12) });
    });
    rtcp.on('message', (msg) => this.receivedRtcp.push(msg));
  }

  static async open(name: string): Promise<RtpPhone> {
    const rtp = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => rtp.bind(0, '127.0.0.1', resolve));
    const rtcp = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => rtcp.bind(0, '127.0.0.1', resolve));
    return new RtpPhone(name, rtp, rtcp);
  }

  get port(): number {
    return this.rtp.address().port;
  }

  /** An SDP offer or answer naming `claimed` (nobody listens there) with PCMU and telephone-event. */
  sdp(opts: { claimed?: string; port?: number; direction?: string } = {}): string {
    const claimed = opts.claimed ?? '127.0.0.99';
    return [
      'v=0',
      `o=${this.name} 1 1 IN IP4 ${claimed}`,
      's=-',
      `c=IN IP4 ${claimed}`,
      't=0 0',
      `m=audio ${opts.port ?? 40000 + (this.ssrc % 1000) * 2} RTP/AVP ${PCMU} ${TELEPHONE_EVENT}`,
      `a=rtpmap:${PCMU} PCMU/8000`,
      `a=rtpmap:${TELEPHONE_EVENT} telephone-event/8000`,
      `a=fmtp:${TELEPHONE_EVENT} 0-16`,
      'a=ptime:20',
      `a=${opts.direction ?? 'sendrecv'}`,
      '',
    ].join('\r\n');
  }

  /** The payload of this phone's packet number `n`: recognisable by whoever receives it. */
  payloadOf(n: number): Buffer {
    const p = Buffer.alloc(160, 0xff);
    p.write(`${this.name}#${n}`, 'latin1');
    return p;
  }

  packet(pt: number, payload: Buffer, marker = false, sameTimestamp = false): Buffer {
    const h = Buffer.alloc(12);
    h[0] = 0x80;
    h[1] = pt | (marker ? 0x80 : 0);
    this.seq = (this.seq + 1) & 0xffff;
    if (!sameTimestamp) this.timestamp = (this.timestamp + 160) >>> 0;
    h.writeUInt16BE(this.seq, 2);
    h.writeUInt32BE(this.timestamp, 4);
    h.writeUInt32BE(this.ssrc, 8);
    return Buffer.concat([h, payload]);
  }

  /** Sends `count` audio packets to `port` on 127.0.0.1, one every `everyMs`; `skip` numbers are lost on purpose. */
  async sendAudio(port: number, count: number, opts: { everyMs?: number; from?: number; skip?: Set<number> } = {}): Promise<void> {
    const from = opts.from ?? 0;
    for (let n = from; n < from + count; n++) {
      const packet = this.packet(PCMU, this.payloadOf(n));
      if (!opts.skip?.has(n)) this.rtp.send(packet, port, '127.0.0.1');
      await new Promise((r) => setTimeout(r, opts.everyMs ?? 5));
    }
  }

  /** One RFC 4733 event: three progress packets and the end packet three times, one timestamp. */
  async sendDtmf(port: number, digit: number, durationUnits = 800): Promise<void> {
    this.timestamp = (this.timestamp + 160) >>> 0;
    const body = (end: boolean, units: number) => Buffer.from([digit, (end ? 0x80 : 0) | 10, units >> 8, units & 0xff]);
    const steps = [durationUnits / 4, durationUnits / 2, (3 * durationUnits) / 4];
    for (const [i, units] of steps.entries()) this.rtp.send(this.packet(TELEPHONE_EVENT, body(false, units), i === 0, true), port, '127.0.0.1');
    for (let i = 0; i < 3; i++) this.rtp.send(this.packet(TELEPHONE_EVENT, body(true, durationUnits), false, true), port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 10));
  }

  /** An RTCP receiver report (empty), sent from the RTCP socket to `port`. */
  sendRtcp(port: number): void {
    const rr = Buffer.alloc(8);
    rr[0] = 0x80;
    rr[1] = 201;
    rr.writeUInt16BE(1, 2);
    rr.writeUInt32BE(this.ssrc, 4);
    this.rtcp.send(rr, port, '127.0.0.1');
  }

  /** Sends raw bytes from this phone's RTP socket (a stray or misdirected packet). */
  sendRaw(buf: Buffer, port: number): void {
    this.rtp.send(buf, port, '127.0.0.1');
  }

  /** Payloads received that `other` sent, as its packet numbers. */
  numbersFrom(other: RtpPhone): number[] {
    const prefix = `${other.name}#`;
    return this.received
      .filter((r) => r.pt === PCMU && r.payload.toString('latin1', 0, prefix.length) === prefix)
      .map((r) => Number(/^[^#]+#(\d+)/.exec(r.payload.toString('latin1', 0, 32))![1]));
  }

  close(): void {
    this.rtp.close();
    this.rtcp.close();
  }
}

/** The port in the first m=audio line of an SDP, and its c= address. */
export function mediaTarget(sdp: string): { address: string; port: number } {
  const port = Number(/^m=audio (\d+)/m.exec(sdp)?.[1]);
  const address = /^c=IN IP4 (\S+)/m.exec(sdp)?.[1] ?? '';
  return { address, port };
}

/** Polls `check` until it holds or `ms` pass; then fails with `what`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
