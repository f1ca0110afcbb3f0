/**
 * G.711 (ITU-T G.711) µ-law (PCMU, payload type 0) and A-law (PCMA, 8): one byte per 8 kHz sample.
 * Encoding 16-bit linear samples for prompts the embedded relay plays; decoding for recordings.
 */

export type G711Codec = 'PCMU' | 'PCMA';

const BIAS = 0x84;
const CLIP = 32635;

function encodeMuLaw(sample: number): number {
  const sign = sample < 0 ? 0x80 : 0;
  let s = Math.min(Math.abs(sample), CLIP) + BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  s = ~(sign | (exponent << 4) | mantissa);
  return s & 0xff;
}

function decodeMuLaw(byte: number): number {
  const u = ~byte & 0xff;
  const exponent = (u >> 4) & 0x07;
  const magnitude = ((((u & 0x0f) << 3) + BIAS) << exponent) - BIAS;
  return u & 0x80 ? -magnitude : magnitude;
}

function encodeALaw(sample: number): number {
  const sign = sample >= 0 ? 0x80 : 0;
  const s = Math.min(sample >= 0 ? sample : -sample - 1, 32767) >> 3;
  let out: number;
  if (s < 32) out = s >> 1;
  else {
    let exponent = 1;
    while (s >> (exponent + 4) > 1 && exponent < 7) exponent++;
    out = (exponent << 4) | ((s >> exponent) & 0x0f);
  }
  return (out | sign) ^ 0x55;
}

function decodeALaw(byte: number): number {
  const a = byte ^ 0x55;
  const exponent = (a >> 4) & 0x07;
  const mantissa = a & 0x0f;
  const magnitude = exponent === 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (exponent - 1);
  return a & 0x80 ? magnitude : -magnitude;
}

const DECODE: Record<G711Codec, Int16Array> = {
  PCMU: Int16Array.from({ length: 256 }, (_, b) => decodeMuLaw(b)),
  PCMA: Int16Array.from({ length: 256 }, (_, b) => decodeALaw(b)),
};

export const G711_PAYLOAD_TYPE: Record<G711Codec, number> = { PCMU: 0, PCMA: 8 };

export function encodeG711(codec: G711Codec, samples: Int16Array): Buffer {
  const encode = codec === 'PCMU' ? encodeMuLaw : encodeALaw;
  const out = Buffer.alloc(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = encode(samples[i]!);
  return out;
}

export function decodeG711(codec: G711Codec, payload: Uint8Array): Int16Array {
  const table = DECODE[codec];
  const out = new Int16Array(payload.length);
  for (let i = 0; i < payload.length; i++) out[i] = table[payload[i]!]!;
  return out;
}
