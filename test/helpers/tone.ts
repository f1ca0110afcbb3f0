/**
 * Whether a recording holds a tone: a 16-bit PCM WAV file read as it is (any rate, first channel),
 * cut into 100 ms windows, each measured with the Goertzel algorithm at the tone's frequency
 * against the window's whole energy. A window "has the tone" when it is loud enough and most of
 * its energy is at that frequency; silence, noise or another tone do not.
 */
import { readFileSync } from 'node:fs';

export interface Wav {
  sampleRate: number;
  channels: number;
  /** The first channel, -1..1. */
  samples: Float64Array;
}

export function readWav(file: string): Wav {
  const b = readFileSync(file);
  if (b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE') throw new Error(`${file} is not a WAV file`);
  let offset = 12;
  let fmt: { channels: number; sampleRate: number; bits: number } | undefined;
  while (offset + 8 <= b.length) {
    const id = b.toString('ascii', offset, offset + 4);
    // A recording still being written may say 0 (or too much) for its data chunk: read what is there.
    const size = Math.min(b.readUInt32LE(offset + 4), b.length - offset - 8) || b.length - offset - 8;
    const body = offset + 8;
    if (id === 'fmt ') fmt = { channels: b.readUInt16LE(body + 2), sampleRate: b.readUInt32LE(body + 4), bits: b.readUInt16LE(body + 14) };
    if (id === 'data') {
      if (!fmt || fmt.bits !== 16) throw new Error(`${file}: only 16-bit PCM is read (${fmt?.bits ?? 'no'} bits)`);
      const frames = Math.floor(size / (2 * fmt.channels));
      const samples = new Float64Array(frames);
      for (let i = 0; i < frames; i++) samples[i] = b.readInt16LE(body + i * 2 * fmt.channels) / 32768;
      return { sampleRate: fmt.sampleRate, channels: fmt.channels, samples };
    }
    offset = body + size + (size % 2);
  }
  throw new Error(`${file} has no audio data`);
}

/** The share of a window's energy at `hz` (0..1), by Goertzel. */
function toneShare(x: Float64Array, from: number, n: number, hz: number, rate: number): { share: number; rms: number } {
  const k = Math.round((n * hz) / rate);
  const coeff = 2 * Math.cos((2 * Math.PI * k) / n);
  let s1 = 0;
  let s2 = 0;
  let energy = 0;
  for (let i = 0; i < n; i++) {
    const v = x[from + i]!;
    energy += v * v;
    const s0 = v + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  // A pure sine of amplitude A puts (A n / 2)^2 in its bin and A^2 n / 2 in the window: power / (energy n / 2) is 1.
  return { share: energy > 0 ? power / ((energy * n) / 2) : 0, rms: Math.sqrt(energy / n) };
}

export interface ToneReport {
  windows: number;
  /** Windows where the tone is. */
  withTone: number;
  /** Seconds of audio in the file. */
  seconds: number;
}

export function detectTone(wav: Wav, hz: number): ToneReport {
  const n = Math.round(wav.sampleRate / 10);
  let windows = 0;
  let withTone = 0;
  for (let from = 0; from + n <= wav.samples.length; from += n) {
    windows++;
    const { share, rms } = toneShare(wav.samples, from, n, hz, wav.sampleRate);
    if (rms > 0.01 && share > 0.5) withTone++;
  }
  return { windows, withTone, seconds: wav.samples.length / wav.sampleRate };
}
