/**
 * Plays audio into a leg as RTP: G.711 in the leg's law, 160 samples (20 ms) a packet, sent on a
 * clock rather than a timer's word (each tick sends every packet due by now, so a late tick does
 * not slow the prompt down), repeated `times` times. Its own SSRC, sequence and timestamp; the
 * first packet carries the marker bit.
 */
import { randomInt } from 'node:crypto';
import { encodeG711, type G711Codec } from './g711.ts';

export const FRAME_SAMPLES = 160;
const FRAME_MS = 20;
/** After a stall (the event loop busy), at most this many overdue packets go at once; the rest are skipped. */
const MAX_BURST = 5;

export class RtpPlayer {
  private readonly payload: Buffer;
  /** The law's code for 0 (µ-law 0xff, A-law 0xd5). */
  private readonly silence: number;
  private readonly frames: number;
  private readonly ssrc = randomInt(2 ** 31);
  private seq = randomInt(65536);
  private timestamp = randomInt(2 ** 31);
  private sent = 0;
  private readonly startedAt = performance.now();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly send: (packet: Buffer) => void,
    codec: G711Codec,
    private readonly payloadType: number,
    samples: Int16Array,
    times: number,
    private readonly onEnd: () => void = () => {},
  ) {
    this.payload = encodeG711(codec, samples);
    this.silence = codec === 'PCMU' ? 0xff : 0xd5;
    this.frames = Math.ceil(samples.length / FRAME_SAMPLES) * times;
    this.tick();
  }

  /** Length of one play, in ms. */
  static durationMs(samples: Int16Array): number {
    return Math.ceil(samples.length / FRAME_SAMPLES) * FRAME_MS;
  }

  get playing(): boolean {
    return !this.stopped;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.onEnd();
  }

  private tick(): void {
    if (this.stopped) return;
    let due = Math.min(this.frames, Math.floor((performance.now() - this.startedAt) / FRAME_MS) + 1);
    if (due - this.sent > MAX_BURST) this.skip(due - this.sent - MAX_BURST);
    due = Math.max(due, this.sent);
    while (this.sent < due) this.sendFrame();
    if (this.sent >= this.frames) {
      this.stop();
      return;
    }
    const next = this.startedAt + this.sent * FRAME_MS;
    this.timer = setTimeout(() => this.tick(), Math.max(1, next - performance.now()));
  }

  private skip(frames: number): void {
    this.sent += frames;
    this.timestamp = (this.timestamp + frames * FRAME_SAMPLES) >>> 0;
  }

  private sendFrame(): void {
    const framesPerPlay = Math.ceil(this.payload.length / FRAME_SAMPLES);
    const at = (this.sent % framesPerPlay) * FRAME_SAMPLES;
    const body = Buffer.alloc(FRAME_SAMPLES, this.silence); // the last frame is padded with silence
    this.payload.copy(body, 0, at, Math.min(at + FRAME_SAMPLES, this.payload.length));
    const h = Buffer.alloc(12);
    h[0] = 0x80;
    h[1] = this.payloadType | (this.sent === 0 ? 0x80 : 0);
    h.writeUInt16BE(this.seq, 2);
    h.writeUInt32BE(this.timestamp, 4);
    h.writeUInt32BE(this.ssrc, 8);
    this.seq = (this.seq + 1) & 0xffff;
    this.timestamp = (this.timestamp + FRAME_SAMPLES) >>> 0;
    this.sent++;
    this.send(Buffer.concat([h, body]));
  }
}
