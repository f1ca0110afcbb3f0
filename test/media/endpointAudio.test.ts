/**
 * Legs the switch answers itself, on both engines: the SDP answer (G.711 in the phone's law,
 * telephone-event), prompts played into the leg as paced RTP, recordings of what the phone sends,
 * and RFC 4733 digits as events. The phone is a real UDP socket whose SDP names 127.0.0.99, where
 * nothing listens: audio reaches it only where its packets come from.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeG711, encodeG711 } from '../../server/media/audio/g711.ts';
import { readSwitchWav } from '../../server/media/audio/wav.ts';
import { MediaRequestError } from '../../server/media/engine.ts';
import { tone, toneShare, toneWav } from './audioSignal.ts';
import { ENGINES, skipEngine, startEngine, type TestEngine } from './engines.ts';
import { mediaTarget, RtpPhone, until } from './rtpPhone.ts';

const PORTS = { embedded: { portMin: 31100, portMax: 31199 }, rtpengine: { portMin: 31200, portMax: 31299 } };

for (const name of ENGINES) {
  describe(`a leg the switch answers, on ${name}`, { skip: skipEngine(name), timeout: 60_000 }, () => {
    let t: TestEngine;
    let phone: RtpPhone;
    const phones: RtpPhone[] = [];
    let n = 0;
    before(async () => {
      t = await startEngine(name, PORTS[name]);
    });
    after(async () => {
      for (const p of phones) p.close();
      await t?.close();
    });

    /** A call answered by the switch; the phone has sent one packet, so the engine knows where it is. */
    async function answered(sdp?: string): Promise<{ callId: string; port: number; answer: string }> {
      phone = await RtpPhone.open('phone');
      phones.push(phone);
      const callId = `${name}-call-${++n}`;
      const answer = await t.engine.endpoint({ callId, tag: 'caller', sdp: sdp ?? phone.sdp() });
      const port = mediaTarget(answer).port;
      // PCMA where PCMU was agreed: it teaches the engine where the phone is, and no recording takes it.
      phone.sendRaw(phone.packet(8, Buffer.alloc(160, 0xd5)), port);
      await until('the engine saw the phone', async () => ((await t.engine.stats(callId))?.legs.find((l) => l.tag === 'caller')?.received.packets ?? 0) >= 1);
      return { callId, port, answer };
    }

    const hangUp = (callId: string) => t.engine.delete({ callId });

    test('answers in the phone’s G.711 law, with telephone-event, and refuses an offer without G.711', async () => {
      const { callId, answer } = await answered();
      const alaw = await RtpPhone.open('alaw');
      assert.match(answer, /^m=audio \d+ RTP\/AVP 0 101\r$/m);
      assert.match(answer, /^a=rtpmap:101 telephone-event\/8000\r$/m);
      assert.equal(mediaTarget(answer).address, '127.0.0.1');
      await hangUp(callId);
      const pcmaOnly = alaw.sdp().replace('RTP/AVP 0 101', 'RTP/AVP 8 101').replace('a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000');
      const a = await t.engine.endpoint({ callId: `${name}-alaw`, tag: 'caller', sdp: pcmaOnly });
      assert.match(a, /^m=audio \d+ RTP\/AVP 8 101\r$/m);
      await t.engine.delete({ callId: `${name}-alaw` });
      const g722 = alaw
        .sdp()
        .replace('RTP/AVP 0 101', 'RTP/AVP 9')
        .replace(/a=rtpmap:.*\r\n/g, '');
      await assert.rejects(t.engine.endpoint({ callId: `${name}-g722`, tag: 'caller', sdp: g722 }), MediaRequestError);
      await t.engine.delete({ callId: `${name}-g722` });
      phones.push(alaw);
    });

    test('plays a prompt as 20 ms packets at the pace of real time; the phone hears the prompt', async () => {
      const { callId } = await answered();
      const file = path.join(t.dataDir, 'prompt.wav');
      writeFileSync(file, toneWav(1000, 1000));
      const started = Date.now();
      const played = await t.engine.play({ callId, tag: 'caller', file });
      assert.ok(played.durationMs !== null && Math.abs(played.durationMs - 1000) <= 40, `duration ${played.durationMs}`);
      const audio = () => phone.received.filter((r) => r.pt === 0 && r.payload.length === 160);
      await until('the phone heard 48 packets', () => audio().length >= 48);
      assert.ok(Date.now() - started >= 700, `48 packets took ${Date.now() - started} ms: paced, not sent at once`);
      const heard = Int16Array.from(audio().flatMap((r) => [...decodeG711('PCMU', r.payload)]));
      assert.ok(toneShare(heard, 1000) > 0.8, `the 1 kHz prompt is what the phone hears (share ${toneShare(heard, 1000).toFixed(2)})`);
      if (name === 'embedded') {
        // The relay's own encoder: byte for byte the prompt in µ-law.
        const sent = encodeG711('PCMU', tone(1000, 1000));
        assert.deepEqual(audio()[0]!.payload, sent.subarray(0, 160));
      }
      await hangUp(callId);
    });

    test('stopPlay stops a repeating prompt', async () => {
      const { callId } = await answered();
      const file = path.join(t.dataDir, 'long.wav');
      writeFileSync(file, toneWav(500, 1000));
      await t.engine.play({ callId, tag: 'caller', file, repeat: 5 });
      await until('playing', () => phone.received.length >= 5);
      await t.engine.stopPlay({ callId, tag: 'caller' });
      // Whatever was in flight lands; then nothing more comes.
      await new Promise((r) => setTimeout(r, 100));
      const count = phone.received.length;
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(phone.received.length <= count + 1, `after stopPlay ${phone.received.length - count} more packets`);
      await hangUp(callId);
    });

    test('records what the phone sends as an 8 kHz WAV, silence where packets are missing', async () => {
      const { callId, port } = await answered();
      const file = path.join(t.dataDir, 'rec', `${callId}.wav`);
      await t.engine.startRecording({ callId, tag: 'caller', file });
      const voice = tone(700, 1000);
      const sent = encodeG711('PCMU', voice);
      for (let i = 0; i < 50; i++) {
        // Packet 10 is lost on the way.
        const packet = phone.packet(0, sent.subarray(i * 160, (i + 1) * 160));
        if (i !== 10) phone.sendRaw(packet, port);
        await new Promise((r) => setTimeout(r, 2));
      }
      await new Promise((r) => setTimeout(r, 100));
      const rec = await t.engine.stopRecording({ callId, tag: 'caller' });
      assert.equal(rec.durationMs, 1000);
      const samples = readSwitchWav(readFileSync(file));
      assert.equal(rec.bytes, 44 + samples.length * 2);
      const expected = decodeG711('PCMU', sent);
      assert.deepEqual(samples.subarray(0, 1600), expected.subarray(0, 1600));
      assert.ok(
        samples.subarray(1600, 1760).every((s) => s === 0),
        'the lost packet is silence',
      );
      assert.deepEqual(samples.subarray(1760), expected.subarray(1760));
      await assert.rejects(t.engine.stopRecording({ callId, tag: 'caller' }), /not being recorded/);
      await hangUp(callId);
    });

    test('digits the phone sends (RFC 4733) arrive as events', async () => {
      const { callId, port } = await answered();
      await phone.sendDtmf(port, 5);
      await phone.sendDtmf(port, 11);
      await until('two digits', () => t.events.filter((e) => e.type === 'media.dtmf' && e.callId === callId).length >= 2);
      const digits = t.events.filter((e) => e.type === 'media.dtmf' && e.callId === callId);
      assert.deepEqual(
        digits.map((e) => e.type === 'media.dtmf' && [e.tag, e.digit]),
        [
          ['caller', '5'],
          ['caller', '#'],
        ],
      );
      await hangUp(callId);
    });
  });
}
