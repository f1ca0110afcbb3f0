/**
 * Prompt conversion: what a tenant uploads (WAV in any common encoding, rate and channel count, or
 * MP3) becomes what both engines play, an 8 kHz mono 16-bit WAV — the embedded relay encodes it
 * to G.711 sample for sample, rtpengine reads it as it is. Channels are mixed down and the rate is
 * converted with a windowed-sinc low-pass, so 44.1 kHz music does not alias into the phone band.
 * Errors are `PromptFormatError`, whose message is meant for the tenant.
 */
import { MPEGDecoder } from 'mpg123-decoder';
import { isWav, readWav, SWITCH_RATE, toInt16, WavFormatError, writeWav, type DecodedAudio } from './audio/wav.ts';

/** Uploads larger than this are refused before any decoding. */
export const MAX_PROMPT_BYTES = 25 * 1024 * 1024;
/** Longest prompt, after conversion. */
export const MAX_PROMPT_SECONDS = 300;

export class PromptFormatError extends Error {}

export interface ConvertedPrompt {
  /** 8 kHz mono 16-bit PCM WAV. */
  wav: Buffer;
  durationMs: number;
}

export async function convertPrompt(bytes: Uint8Array): Promise<ConvertedPrompt> {
  if (bytes.length === 0) throw new PromptFormatError('the file is empty');
  if (bytes.length > MAX_PROMPT_BYTES) throw new PromptFormatError(`the file is ${bytes.length} bytes; a prompt may have at most ${MAX_PROMPT_BYTES} (25 MB)`);
  let audio: DecodedAudio;
  if (isWav(bytes)) {
    try {
      audio = readWav(bytes);
    } catch (err) {
      if (err instanceof WavFormatError) throw new PromptFormatError(`the WAV file cannot be read: ${err.message}`);
      throw err;
    }
  } else if (isMp3(bytes)) audio = await decodeMp3(bytes);
  else throw new PromptFormatError('the file is neither WAV nor MP3');
  const frames = audio.channels[0]?.length ?? 0;
  if (frames === 0) throw new PromptFormatError('the file contains no audio');
  if (frames / audio.sampleRate > MAX_PROMPT_SECONDS) {
    throw new PromptFormatError(`the audio lasts ${Math.round(frames / audio.sampleRate)} s; a prompt may last at most ${MAX_PROMPT_SECONDS} s`);
  }
  const samples = toInt16(resample(mixDown(audio.channels), audio.sampleRate, SWITCH_RATE));
  return { wav: writeWav(samples), durationMs: Math.round((samples.length * 1000) / SWITCH_RATE) };
}

/** An ID3 tag, or an MPEG audio frame header (11 sync bits, layer I–III). */
function isMp3(b: Uint8Array): boolean {
  if (b.length >= 3 && b[0] === 0x49 && b[1] === 0x44 && b[2] === 0x33) return true;
  return b.length >= 2 && b[0] === 0xff && (b[1]! & 0xe0) === 0xe0 && (b[1]! & 0x06) !== 0;
}

/** Decoded a chunk at a time, so a long file is refused once it passes the limit instead of filling memory. */
async function decodeMp3(bytes: Uint8Array): Promise<DecodedAudio> {
  const decoder = new MPEGDecoder();
  await decoder.ready;
  try {
    const parts: Float32Array[][] = [];
    let sampleRate = 0;
    let frames = 0;
    for (let at = 0; at < bytes.length; at += 64 * 1024) {
      const out = decoder.decode(bytes.subarray(at, at + 64 * 1024));
      if (out.samplesDecoded === 0) continue;
      sampleRate = out.sampleRate;
      frames += out.samplesDecoded;
      parts.push(out.channelData.map((c) => c.slice(0, out.samplesDecoded)));
      if (frames / sampleRate > MAX_PROMPT_SECONDS) throw new PromptFormatError(`the audio lasts more than ${MAX_PROMPT_SECONDS} s, the most a prompt may last`);
    }
    if (frames === 0) throw new PromptFormatError('the MP3 file cannot be decoded (no audio frames found)');
    const channelCount = Math.min(...parts.map((p) => p.length));
    const channels = Array.from({ length: channelCount }, (_, c) => {
      const all = new Float32Array(frames);
      let at = 0;
      for (const p of parts) {
        all.set(p[c]!, at);
        at += p[c]!.length;
      }
      return all;
    });
    return { sampleRate, channels };
  } finally {
    decoder.free();
  }
}

function mixDown(channels: Float32Array[]): Float32Array {
  if (channels.length === 1) return channels[0]!;
  const out = new Float32Array(channels[0]!.length);
  for (const c of channels) for (let i = 0; i < out.length; i++) out[i]! += c[i]! / channels.length;
  return out;
}

/** Zero crossings of the sinc on each side: enough for a clean phone band, cheap enough for minutes of audio. */
const HALF_ZEROS = 8;
/** Most kernel phases kept; rates whose ratio needs more use the nearest of these. */
const MAX_PHASES = 1024;

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * Band-limited rate conversion: a Blackman-windowed sinc, its cut-off below the lower of the two
 * Nyquist rates. Polyphase: the kernel is computed once per fractional position (the ratio's
 * denominator of them, at most MAX_PHASES), so each output sample is a plain dot product — two
 * minutes of 48 kHz audio convert in a fraction of a second instead of many seconds of trigonometry.
 */
export function resample(input: Float32Array, from: number, to: number): Float32Array {
  if (from === to) return input;
  const ratio = to / from;
  const cutoff = Math.min(1, ratio) * 0.92;
  const half = HALF_ZEROS / cutoff;
  const lo = -Math.ceil(half);
  const width = 2 * Math.ceil(half) + 2;
  const step = from / gcd(from, to);
  const denominator = to / gcd(from, to);
  const phases = Math.min(denominator, MAX_PHASES);
  const kernel = new Float32Array(phases * width);
  for (let p = 0; p < phases; p++) {
    const frac = p / phases;
    for (let j = 0; j < width; j++) {
      const x = lo + j - frac;
      if (Math.abs(x) >= half) continue;
      const w = 0.42 + 0.5 * Math.cos((Math.PI * x) / half) + 0.08 * Math.cos((2 * Math.PI * x) / half);
      const arg = Math.PI * cutoff * x;
      kernel[p * width + j] = w * (x === 0 ? cutoff : (cutoff * Math.sin(arg)) / arg);
    }
  }
  const out = new Float32Array(Math.floor(input.length * ratio));
  for (let n = 0; n < out.length; n++) {
    // Position n·from/to, exactly: whole part and phase from integers, so no drift over minutes.
    const numerator = n * step;
    let base = Math.floor(numerator / denominator);
    let p = Math.round(((numerator % denominator) / denominator) * phases);
    if (p === phases) {
      p = 0;
      base += 1;
    }
    const k = p * width;
    const first = Math.max(0, -(base + lo));
    const last = Math.min(width, input.length - (base + lo));
    let sum = 0;
    for (let j = first; j < last; j++) sum += input[base + lo + j]! * kernel[k + j]!;
    out[n] = sum;
  }
  return out;
}
