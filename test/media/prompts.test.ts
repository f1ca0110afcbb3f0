/**
 * Prompt conversion (WAV of any common kind, MP3 → 8 kHz mono 16-bit WAV) and the built-in tones:
 * checked by what the audio sounds like (the tone's share of the power), not by bytes.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { readSwitchWav, readWav } from '../../server/media/audio/wav.ts';
import { convertPrompt, MAX_PROMPT_SECONDS, PromptFormatError } from '../../server/media/prompts.ts';
import { convertPromptOffThread } from '../../server/media/promptThread.ts';
import { TONE_NAMES, toneAudio } from '../../server/media/tones.ts';
import { toneShare } from './audioSignal.ts';

/** A WAV of a `freq` tone in the given encoding; every channel carries it. */
function wav(opts: { rate: number; channels: number; bits: 8 | 16 | 24 | 32; float?: boolean; freq: number; seconds: number }): Buffer {
  const frames = Math.round(opts.rate * opts.seconds);
  const bytes = opts.bits / 8;
  const data = Buffer.alloc(frames * opts.channels * bytes);
  for (let f = 0; f < frames; f++) {
    const v = 0.5 * Math.sin((2 * Math.PI * opts.freq * f) / opts.rate);
    for (let c = 0; c < opts.channels; c++) {
      const at = (f * opts.channels + c) * bytes;
      if (opts.float) data.writeFloatLE(v, at);
      else if (opts.bits === 8) data.writeUInt8(Math.round(128 + v * 127), at);
      else if (opts.bits === 16) data.writeInt16LE(Math.round(v * 32767), at);
      else if (opts.bits === 24) data.writeIntLE(Math.round(v * 8388607), at, 3);
      else data.writeInt32LE(Math.round(v * 2147483647), at);
    }
  }
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(opts.float ? 3 : 1, 20);
  h.writeUInt16LE(opts.channels, 22);
  h.writeUInt32LE(opts.rate, 24);
  h.writeUInt32LE(opts.rate * opts.channels * bytes, 28);
  h.writeUInt16LE(opts.channels * bytes, 32);
  h.writeUInt16LE(opts.bits, 34);
  h.write('data', 36);
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

const rms = (s: Int16Array) => Math.sqrt(s.reduce((a, v) => a + v * v, 0) / s.length);

describe('converting prompts', () => {
  for (const kind of [
    { rate: 44100, channels: 2, bits: 16 },
    { rate: 48000, channels: 1, bits: 24 },
    { rate: 22050, channels: 2, bits: 8 },
    { rate: 16000, channels: 1, bits: 32, float: true },
    { rate: 8000, channels: 1, bits: 16 },
  ] as const) {
    test(`a ${kind.rate} Hz ${kind.channels}-channel ${kind.bits}-bit${'float' in kind ? ' float' : ''} WAV becomes 8 kHz mono 16-bit, same tone, same length`, async () => {
      const out = await convertPrompt(wav({ ...kind, freq: 1000, seconds: 1 }));
      const samples = readSwitchWav(out.wav);
      assert.equal(out.durationMs, 1000);
      assert.equal(samples.length, 8000);
      assert.ok(toneShare(samples, 1000) > 0.95, `1 kHz share ${toneShare(samples, 1000)}`);
      assert.ok(rms(samples) > 0.3 * 32768 * 0.5, 'the level is kept');
    });
  }

  test('a tone above the phone band is filtered out, not folded into it', async () => {
    const out = readSwitchWav((await convertPrompt(wav({ rate: 44100, channels: 1, bits: 16, freq: 5000, seconds: 1 }))).wav);
    // Decimated without a filter, 5 kHz would come back as a 3 kHz tone at full level (~11 600 RMS).
    assert.ok(rms(out) < 300, `rms ${rms(out)}`);
  });

  test('an MP3 (22.05 kHz mono, 1 kHz, 1 s) is decoded and converted', async () => {
    const out = await convertPrompt(readFileSync(new URL('../fixtures/audio/tone-1khz-22050hz.mp3', import.meta.url)));
    const samples = readSwitchWav(out.wav);
    assert.ok(out.durationMs >= 1000 && out.durationMs <= 1150, `duration ${out.durationMs}`);
    assert.ok(toneShare(samples.subarray(800, 7200), 1000) > 0.9, `1 kHz share ${toneShare(samples.subarray(800, 7200), 1000)}`);
  });

  test('what is not audio, or too long, is refused with a message for the uploader', async () => {
    await assert.rejects(convertPrompt(Buffer.from('<html>hello</html>')), (err) => err instanceof PromptFormatError && err.message === 'the file is neither WAV nor MP3');
    await assert.rejects(convertPrompt(Buffer.alloc(0)), PromptFormatError);
    const header = wav({ rate: 8000, channels: 1, bits: 16, freq: 440, seconds: 0.01 }).subarray(0, 36);
    await assert.rejects(convertPrompt(header), /the WAV file cannot be read: it has no audio data/);
    const adpcm = wav({ rate: 8000, channels: 1, bits: 16, freq: 440, seconds: 0.1 });
    adpcm.writeUInt16LE(2, 20);
    await assert.rejects(convertPrompt(adpcm), /not supported: use PCM, float, µ-law or A-law/);
    const long = wav({ rate: 8000, channels: 1, bits: 8, freq: 440, seconds: MAX_PROMPT_SECONDS + 1 });
    await assert.rejects(convertPrompt(long), /a prompt may last at most 300 s/);
    await assert.rejects(convertPrompt(Buffer.concat([Buffer.from('ID3'), Buffer.alloc(5000, 7)])), /MP3 file cannot be decoded/);
  });
});

describe('converting off the event loop', () => {
  test('a worker thread gives the same audio, and the same errors for the uploader', async () => {
    const upload = wav({ rate: 44100, channels: 2, bits: 16, freq: 1000, seconds: 0.5 });
    assert.deepEqual(await convertPromptOffThread(upload), await convertPrompt(upload));
    await assert.rejects(convertPromptOffThread(Buffer.from('nope')), (err) => err instanceof PromptFormatError && err.message === 'the file is neither WAV nor MP3');
  });
});

describe('built-in tones', () => {
  test('each is an 8 kHz mono WAV of one cadence cycle, in its frequencies', () => {
    assert.deepEqual(TONE_NAMES, ['ringback', 'busy', 'beep']);
    const ringback = toneAudio('ringback');
    assert.equal(ringback.durationMs, 6000);
    const samples = readSwitchWav(ringback.wav);
    assert.equal(samples.length, 48000);
    const on = samples.subarray(0, 16000);
    assert.ok(toneShare(on, 440) > 0.4 && toneShare(on, 480) > 0.4, 'ringing is 440 + 480 Hz');
    assert.ok(
      samples.subarray(16000).every((s) => s === 0),
      'then 4 s of silence',
    );
    assert.equal(toneAudio('busy').durationMs, 1000);
    assert.ok(toneShare(readSwitchWav(toneAudio('beep').wav), 1000) > 0.95);
    assert.equal(readWav(toneAudio('beep').wav).sampleRate, 8000);
  });
});
