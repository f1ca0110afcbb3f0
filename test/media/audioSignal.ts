/** Signal helpers for audio tests: tones as samples and WAV, and how strong one frequency is. */
import { SWITCH_RATE, writeWav } from '../../server/media/audio/wav.ts';

export function tone(freq: number, ms: number, rate = SWITCH_RATE, amplitude = 10000): Int16Array {
  const n = Math.round((ms * rate) / 1000);
  return Int16Array.from({ length: n }, (_, i) => Math.round(amplitude * Math.sin((2 * Math.PI * freq * i) / rate)));
}

export const toneWav = (freq: number, ms: number): Buffer => writeWav(tone(freq, ms));

/** Relative power of `freq` in `samples` (Goertzel), normalised by the signal's total power: near 1 for a pure tone. */
export function toneShare(samples: ArrayLike<number>, freq: number, rate = SWITCH_RATE): number {
  const k = 2 * Math.cos((2 * Math.PI * freq) / rate);
  let s1 = 0;
  let s2 = 0;
  let energy = 0;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i]! + k * s1 - s2;
    s2 = s1;
    s1 = s;
    energy += samples[i]! * samples[i]!;
  }
  const power = s1 * s1 + s2 * s2 - k * s1 * s2;
  return energy === 0 ? 0 : (2 * power) / (samples.length * energy);
}
