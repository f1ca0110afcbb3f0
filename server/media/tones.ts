/**
 * The built-in tones a dialplan can play by name, generated (8 kHz mono 16-bit WAV, the prompts'
 * format), one cadence cycle each: a dialplan repeats them. Frequencies and cadences of the North
 * American plan (ITU-T E.180 lists each country's), the ones most phones' users recognise.
 */
import type { ToneName } from '../../contract/audio.ts';
import { SWITCH_RATE, writeWav } from './audio/wav.ts';

export { isToneName, TONE_NAMES, type ToneName } from '../../contract/audio.ts';

export interface ToneSpec {
  description: string;
  frequencies: number[];
  /** On and off times in ms, in turn. */
  cadenceMs: number[];
}

export const TONES = {
  ringback: { description: 'Ringing (440 + 480 Hz, 2 s on, 4 s off)', frequencies: [440, 480], cadenceMs: [2000, 4000] },
  busy: { description: 'Busy (480 + 620 Hz, 0.5 s on, 0.5 s off)', frequencies: [480, 620], cadenceMs: [500, 500] },
  beep: { description: 'A beep (1000 Hz, 0.25 s), as before a recording', frequencies: [1000], cadenceMs: [250] },
} as const satisfies Record<ToneName, ToneSpec>;

const cache = new Map<ToneName, { wav: Buffer; durationMs: number }>();

/** The tone as a WAV, one cadence cycle long. */
export function toneAudio(name: ToneName): { wav: Buffer; durationMs: number } {
  const known = cache.get(name);
  if (known) return known;
  const spec: ToneSpec = TONES[name];
  const durationMs = spec.cadenceMs.reduce((a, b) => a + b, 0);
  const samples = new Int16Array((durationMs * SWITCH_RATE) / 1000);
  // -13 dBm0-ish per tone: loud enough to hear, far from clipping when two add up.
  const amplitude = 6000;
  let at = 0;
  for (const [i, ms] of spec.cadenceMs.entries()) {
    const n = (ms * SWITCH_RATE) / 1000;
    if (i % 2 === 0) {
      for (let s = 0; s < n; s++) {
        let v = 0;
        for (const f of spec.frequencies) v += Math.sin((2 * Math.PI * f * (at + s)) / SWITCH_RATE);
        samples[at + s] = Math.round(amplitude * v);
      }
    }
    at += n;
  }
  const audio = { wav: writeWav(samples), durationMs };
  cache.set(name, audio);
  return audio;
}
