/**
 * The dialplan's audio verbs on a real engine (both), as the call path will drive them: a phone
 * (real UDP, RTP) offers, the switch answers; it hears prompts and tones, its RFC 4733 digits are
 * collected (a digit stops the prompt), what it says is recorded into the tenant's directory and
 * listed, and hanging up ends a recording with the recording kept.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MAX_PENDING_DIGITS, MediaCallAudio } from '../../server/audio/mediaCallAudio.ts';
import { decodeG711, encodeG711 } from '../../server/media/audio/g711.ts';
import { readSwitchWav } from '../../server/media/audio/wav.ts';
import { convertPrompt } from '../../server/media/prompts.ts';
import { RecordingFiles } from '../../server/recordings/recordingFiles.ts';
import { Store, type TenantScope } from '../../server/store/index.ts';
import { newId } from '../../server/store/ids.ts';
import { tone, toneShare, toneWav } from './audioSignal.ts';
import { ENGINES, skipEngine, startEngine, type TestEngine } from './engines.ts';
import { mediaTarget, RtpPhone, until } from './rtpPhone.ts';

const PORTS = { embedded: { portMin: 31300, portMax: 31399 }, rtpengine: { portMin: 31400, portMax: 31499 } };

for (const name of ENGINES) {
  describe(`dialplan audio on a call, on ${name}`, { skip: skipEngine(name), timeout: 90_000 }, () => {
    let t: TestEngine;
    let store: Store;
    let scope: TenantScope;
    const dir = mkdtempSync(path.join(tmpdir(), 'call-audio-'));
    const phones: RtpPhone[] = [];
    before(async () => {
      t = await startEngine(name, PORTS[name]);
      store = await Store.open(`sqlite://${path.join(dir, 'db.sqlite')}`);
      scope = store.tenant((await store.directory.createTenantWithOwner(`t-${newId()}@x.test`, 'h')).tenantId);
      await scope.prompts.put('menu', await convertPrompt(toneWav(1000, 2000)));
      await scope.prompts.put('short', await convertPrompt(toneWav(1000, 500)));
    });
    after(async () => {
      for (const p of phones) p.close();
      await t?.close();
      await store?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    /** A call the dialplan answers: the phone got the switch's SDP and sent a packet so the engine knows where it is. */
    async function call(over: { recordingBytesPerTenant?: number } = {}) {
      const phone = await RtpPhone.open('caller');
      phones.push(phone);
      const callId = newId();
      const sent = { answer: '', byes: 0 };
      const audio = new MediaCallAudio({
        engine: t.engine,
        callId,
        channelId: 'chan-a',
        tenantId: scope.tenantId,
        offer: phone.sdp(),
        sendAnswer: async (sdp) => void (sent.answer = sdp),
        sendBye: async () => void sent.byes++,
        prompts: scope.prompts,
        recordings: scope.recordings,
        files: new RecordingFiles(dir),
        cacheDir: path.join(dir, 'audio-cache'),
        recordingBytesPerTenant: over.recordingBytesPerTenant ?? 1024 * 1024 * 1024,
      });
      await audio.answer();
      const port = mediaTarget(sent.answer).port;
      phone.sendRaw(phone.packet(8, Buffer.alloc(160, 0xd5)), port);
      await until('the engine saw the phone', async () => ((await t.engine.stats(callId))?.legs.find((l) => l.tag === 'chan-a')?.received.packets ?? 0) >= 1);
      const heard = () => phone.received.filter((r) => r.pt === 0 && r.payload.length === 160);
      return { phone, callId, port, audio, sent, heard, signal: new AbortController().signal };
    }

    test('answer sends the switch’s SDP; play resolves when the prompt has played, and the phone heard it', async () => {
      const c = await call();
      assert.match(c.sent.answer, /^m=audio \d+ RTP\/AVP 0 101\r$/m);
      const started = Date.now();
      await c.audio.play({ prompt: 'short' }, { repeat: 2, signal: c.signal });
      assert.ok(Date.now() - started >= 950, `two plays of 500 ms took ${Date.now() - started} ms`);
      await until('the phone heard both plays', () => c.heard().length >= 48);
      const samples = Int16Array.from(c.heard().flatMap((r) => [...decodeG711('PCMU', r.payload)]));
      assert.ok(toneShare(samples, 1000) > 0.8);
      await assert.rejects(c.audio.play({ prompt: 'nope' }, { repeat: 1, signal: c.signal }), /there is no prompt named nope/);
      await c.audio.hangup();
      assert.equal(c.sent.byes, 1);
      c.audio.close();
      await t.engine.delete({ callId: c.callId });
    });

    test('collect: a digit during the prompt stops it; the next digits come within the timeout; then it gives up', async () => {
      const c = await call();
      const collecting = c.audio.collect({ digits: 3, timeoutMs: 1500, prompt: { prompt: 'menu' }, signal: c.signal });
      await until('the prompt plays', () => c.heard().length >= 5);
      await c.phone.sendDtmf(c.port, 2);
      await until('the prompt stopped', async () => {
        const n = c.heard().length;
        await new Promise((r) => setTimeout(r, 200));
        return c.heard().length === n;
      });
      assert.ok(c.heard().length < 80, `the 2 s prompt was cut short (${c.heard().length} packets)`);
      await c.phone.sendDtmf(c.port, 7);
      const started = Date.now();
      assert.equal(await collecting, '27', 'two digits, then the timeout');
      assert.ok(Date.now() - started >= 1000, 'it waited for a third digit');
      c.audio.close();
      await t.engine.delete({ callId: c.callId });
    });

    test('digits pressed ahead are kept up to a bound: a flood of INFO digits does not grow the call without end', async () => {
      const c = await call();
      for (let i = 0; i < 10_000; i++) c.audio.dtmf(String(i % 10));
      const ahead = await c.audio.collect({ digits: 1000, timeoutMs: 50, signal: c.signal });
      assert.equal(ahead, '0123456789'.repeat(7).slice(0, MAX_PENDING_DIGITS), 'the first ones, in order');
      c.audio.dtmf('5');
      assert.equal(await c.audio.collect({ digits: 1, timeoutMs: 1000, signal: c.signal }), '5', 'once collected, new digits count again');
      c.audio.close();
      await t.engine.delete({ callId: c.callId });
    });

    test('record: a beep, then what the phone says until #, stored in the tenant’s directory and listed with the call', async () => {
      const c = await call();
      const recording = c.audio.record({ maxSeconds: 30, beep: true, signal: c.signal });
      await until('the beep played', () => c.heard().length >= 12);
      const voice = encodeG711('PCMU', tone(600, 1000));
      for (let i = 0; i < 50; i++) {
        c.phone.sendRaw(c.phone.packet(0, voice.subarray(i * 160, (i + 1) * 160)), c.port);
        await new Promise((r) => setTimeout(r, 2));
      }
      await new Promise((r) => setTimeout(r, 100));
      await c.phone.sendDtmf(c.port, 11);
      const info = await recording;
      assert.ok(info.durationMs >= 500 && info.durationMs <= 1000, `duration ${info.durationMs}`);
      const [row] = await scope.recordings.forCall(c.callId);
      assert.equal(row?.id, info.id);
      assert.equal(row?.file, `${scope.tenantId}/${info.id}.wav`);
      const samples = readSwitchWav(readFileSync(path.join(dir, 'recordings', row!.file)));
      assert.ok(toneShare(samples, 600) > 0.8, 'the recording is what the phone said');
      c.audio.close();
      await t.engine.delete({ callId: c.callId });
    });

    test('the caller hanging up ends a recording, which is kept; past the quota, record refuses', async () => {
      const c = await call();
      const recording = c.audio.record({ maxSeconds: 60, beep: false, signal: c.signal });
      for (let i = 0; i < 10; i++) c.phone.sendRaw(c.phone.packet(0, Buffer.alloc(160, 0x7f)), c.port);
      await new Promise((r) => setTimeout(r, 100));
      await c.audio.callerHungUp();
      const info = await recording;
      assert.ok(existsSync(path.join(dir, 'recordings', scope.tenantId, `${info.id}.wav`)));
      c.audio.close();
      await t.engine.delete({ callId: c.callId });
      const full = await call({ recordingBytesPerTenant: 1 });
      await assert.rejects(full.audio.record({ maxSeconds: 5, beep: false, signal: full.signal }), /recordings use 0 MB of the 0 MB you may keep; delete some first/);
      full.audio.close();
      await t.engine.delete({ callId: full.callId });
    });
  });
}
