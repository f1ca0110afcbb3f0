/**
 * RIFF WAVE reading and writing. Reads what tenants upload (PCM 8/16/24/32-bit, float 32/64,
 * G.711 µ-law/A-law, WAVE_FORMAT_EXTENSIBLE, any rate and channel count) into float samples per
 * channel; writes the one format the switch keeps: 8 kHz, mono, 16-bit PCM.
 */
import { decodeG711 } from './g711.ts';

export class WavFormatError extends Error {}

export interface DecodedAudio {
  sampleRate: number;
  /** One array per channel, samples in [-1, 1]. */
  channels: Float32Array[];
}

export const isWav = (bytes: Uint8Array): boolean => bytes.length >= 12 && ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 4) === 'WAVE';

const ascii = (b: Uint8Array, at: number, n: number) => Buffer.from(b.buffer, b.byteOffset + at, n).toString('latin1');

const FORMAT = { pcm: 1, float: 3, alaw: 6, mulaw: 7, extensible: 0xfffe } as const;

interface Fmt {
  format: number;
  channels: number;
  sampleRate: number;
  bits: number;
  blockAlign: number;
}

export function readWav(bytes: Uint8Array): DecodedAudio {
  if (!isWav(bytes)) throw new WavFormatError('not a RIFF WAVE file');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let fmt: Fmt | undefined;
  let data: Uint8Array | undefined;
  for (let at = 12; at + 8 <= bytes.length;) {
    const id = ascii(bytes, at, 4);
    // A streamed file may say 0xFFFFFFFF or more than there is: take what is there.
    const size = Math.min(view.getUint32(at + 4, true), bytes.length - at - 8);
    const body = at + 8;
    if (id === 'fmt ') {
      if (size < 16) throw new WavFormatError('its format chunk is too short');
      let format = view.getUint16(body, true);
      if (format === FORMAT.extensible && size >= 26) format = view.getUint16(body + 24, true);
      fmt = {
        format,
        channels: view.getUint16(body + 2, true),
        sampleRate: view.getUint32(body + 4, true),
        blockAlign: view.getUint16(body + 12, true),
        bits: view.getUint16(body + 14, true),
      };
    } else if (id === 'data') {
      data = bytes.subarray(body, body + size);
      if (fmt) break;
    }
    at = body + size + (size % 2);
  }
  if (!fmt) throw new WavFormatError('it has no format chunk');
  if (!data) throw new WavFormatError('it has no audio data');
  if (fmt.channels < 1 || fmt.channels > 8) throw new WavFormatError(`${fmt.channels} channels are not supported (1 to 8)`);
  if (fmt.sampleRate < 4000 || fmt.sampleRate > 192_000) throw new WavFormatError(`a sample rate of ${fmt.sampleRate} Hz is not supported (4000 to 192000)`);
  const sampleBytes = sampleSize(fmt);
  const frameBytes = sampleBytes * fmt.channels;
  const frames = Math.floor(data.length / frameBytes);
  const channels = Array.from({ length: fmt.channels }, () => new Float32Array(frames));
  const read = sampleReader(fmt, new DataView(data.buffer, data.byteOffset, data.byteLength));
  for (let f = 0; f < frames; f++) for (let c = 0; c < fmt.channels; c++) channels[c]![f] = read(f * frameBytes + c * sampleBytes);
  return { sampleRate: fmt.sampleRate, channels };
}

function sampleSize(fmt: Fmt): number {
  const supported =
    (fmt.format === FORMAT.pcm && [8, 16, 24, 32].includes(fmt.bits)) ||
    (fmt.format === FORMAT.float && [32, 64].includes(fmt.bits)) ||
    ((fmt.format === FORMAT.alaw || fmt.format === FORMAT.mulaw) && fmt.bits === 8);
  if (!supported) throw new WavFormatError(`its encoding (format ${fmt.format}, ${fmt.bits}-bit) is not supported: use PCM, float, µ-law or A-law`);
  return fmt.bits / 8;
}

function sampleReader(fmt: Fmt, v: DataView): (at: number) => number {
  if (fmt.format === FORMAT.mulaw || fmt.format === FORMAT.alaw) {
    const codec = fmt.format === FORMAT.mulaw ? 'PCMU' : 'PCMA';
    const table = decodeG711(
      codec,
      Uint8Array.from({ length: 256 }, (_, i) => i),
    );
    return (at) => table[v.getUint8(at)]! / 32768;
  }
  if (fmt.format === FORMAT.float) return fmt.bits === 32 ? (at) => v.getFloat32(at, true) : (at) => v.getFloat64(at, true);
  switch (fmt.bits) {
    case 8:
      return (at) => (v.getUint8(at) - 128) / 128;
    case 16:
      return (at) => v.getInt16(at, true) / 32768;
    case 24:
      return (at) => (v.getUint8(at) | (v.getUint8(at + 1) << 8) | (v.getInt8(at + 2) << 16)) / 8388608;
    default:
      return (at) => v.getInt32(at, true) / 2147483648;
  }
}

/** The switch's format: 8 kHz mono 16-bit PCM. */
export const SWITCH_RATE = 8000;

export function writeWav(samples: Int16Array, sampleRate = SWITCH_RATE): Buffer {
  const data = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(FORMAT.pcm, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

/** The samples of a WAV in the switch's format; anything else is refused (convert it first). */
export function readSwitchWav(bytes: Uint8Array): Int16Array {
  const audio = readWav(bytes);
  if (audio.sampleRate !== SWITCH_RATE || audio.channels.length !== 1)
    throw new WavFormatError(`expected 8 kHz mono audio, got ${audio.sampleRate} Hz with ${audio.channels.length} channels`);
  return toInt16(audio.channels[0]!);
}

export function toInt16(samples: Float32Array): Int16Array {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = Math.max(-32768, Math.min(32767, Math.round(samples[i]! * 32768)));
  return out;
}
