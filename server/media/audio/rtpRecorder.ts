/**
 * Records what a phone sends on one leg: G.711 payloads decoded and laid out by their RTP
 * timestamps (a lost packet or silence suppression leaves silence of the right length, a late
 * packet lands where it belongs), written as an 8 kHz mono 16-bit WAV when it stops.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeG711, type G711Codec } from './g711.ts';
import { SWITCH_RATE, writeWav } from './wav.ts';

/** The longest recording kept, whatever the caller asked: an hour (57.6 MB in memory). */
export const MAX_RECORDING_SECONDS = 3600;
/** A timestamp this far ahead of what was recorded is a new stream (the phone restarted it), appended. */
const RESYNC_SAMPLES = 10 * SWITCH_RATE;

export class RtpRecorder {
  private samples = new Int16Array(SWITCH_RATE * 10);
  private length = 0;
  private base: number | undefined;
  private readonly max = MAX_RECORDING_SECONDS * SWITCH_RATE;

  constructor(
    readonly file: string,
    private readonly codec: G711Codec,
    readonly payloadType: number,
  ) {}

  /** One RTP packet's payload (the caller checked its payload type). */
  add(timestamp: number, payload: Uint8Array): void {
    if (this.base === undefined) this.base = timestamp;
    let at = (timestamp - this.base) >>> 0;
    if (at > this.length + RESYNC_SAMPLES) {
      this.base = (timestamp - this.length) >>> 0;
      at = this.length;
    }
    const decoded = decodeG711(this.codec, payload);
    const end = Math.min(at + decoded.length, this.max);
    if (end <= at) return;
    if (end > this.samples.length) {
      const grown = new Int16Array(Math.min(this.max, Math.max(end, this.samples.length * 2)));
      grown.set(this.samples.subarray(0, this.length));
      this.samples = grown;
    }
    this.samples.set(decoded.subarray(0, end - at), at);
    this.length = Math.max(this.length, end);
  }

  /** Writes the WAV (its directory made if missing); returns its length. */
  async finish(): Promise<{ durationMs: number; bytes: number }> {
    const wav = writeWav(this.samples.subarray(0, this.length));
    await mkdir(path.dirname(this.file), { recursive: true });
    await writeFile(this.file, wav);
    return { durationMs: Math.round((this.length * 1000) / SWITCH_RATE), bytes: wav.length };
  }
}

/** The RTP header's length (CSRCs and extension included), or -1 if the packet is shorter than it says. */
export function rtpHeaderLength(msg: Buffer): number {
  if (msg.length < 12) return -1;
  let length = 12 + 4 * (msg[0]! & 0x0f);
  if (msg[0]! & 0x10) {
    if (msg.length < length + 4) return -1;
    length += 4 + 4 * msg.readUInt16BE(length + 2);
  }
  return msg.length < length ? -1 : length;
}
