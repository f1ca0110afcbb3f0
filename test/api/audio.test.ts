/**
 * Prompts, tones and recordings through the API: uploads converted (WAV, MP3), bad audio refused
 * with a message, audio served as 8 kHz WAV, recordings listed by call, played (ranges), downloaded,
 * deleted with their file, and shown with their call record.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { finalise, newCallState } from '../../server/cdr/callRecord.ts';
import { readSwitchWav, writeWav } from '../../server/media/audio/wav.ts';
import { RecordingFiles } from '../../server/recordings/recordingFiles.ts';
import { newId } from '../../server/store/ids.ts';
import { signUp, type ApiClient } from '../helpers/api.ts';
import { DIALECTS, skipUnless } from '../helpers/databases.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { tone, toneShare } from '../media/audioSignal.ts';

/** A 44.1 kHz 16-bit stereo WAV of a 1 kHz tone: what an editor exports. */
function cdQualityWav(seconds: number): Buffer {
  const mono = tone(1000, seconds * 1000, 44100);
  const stereo = new Int16Array(mono.length * 2);
  mono.forEach((v, i) => stereo.set([v, v], i * 2));
  const wav = writeWav(stereo, 44100);
  wav.writeUInt16LE(2, 22);
  wav.writeUInt32LE(44100 * 4, 28);
  wav.writeUInt16LE(4, 32);
  return wav;
}

for (const dialect of DIALECTS) {
  describe(`dialplan audio through the API [${dialect}]`, { skip: skipUnless(dialect), timeout: 120_000 }, () => {
    let sw: TestSwitch;
    let api: ApiClient;
    let tenantId: string;
    before(async () => {
      sw = await startTestSwitch(dialect);
      api = await signUp(sw.httpUrl);
      tenantId = (await api.get('/me')).body.tenant.id;
    });
    after(async () => sw?.close());

    test('a WAV upload is converted to 8 kHz mono, listed, served, replaced and deleted', async () => {
      const put = await api.request('PUT', '/prompts/welcome', cdQualityWav(1), { 'content-type': 'audio/wav' });
      assert.equal(put.status, 201, JSON.stringify(put.body));
      assert.equal(put.body.name, 'welcome');
      assert.equal(put.body.durationMs, 1000);
      assert.equal(put.body.bytes, 44 + 16000);
      const audio = await fetch(`${sw.httpUrl}/api/v1/prompts/welcome/audio`, { headers: { authorization: `Bearer ${await apiKey(api)}` } });
      assert.equal(audio.status, 200);
      assert.equal(audio.headers.get('content-type'), 'audio/wav');
      const samples = readSwitchWav(Buffer.from(await audio.arrayBuffer()));
      assert.equal(samples.length, 8000);
      assert.ok(toneShare(samples, 1000) > 0.95);
      const mp3 = readFileSync(new URL('../fixtures/audio/tone-1khz-22050hz.mp3', import.meta.url));
      const replaced = await api.request('PUT', '/prompts/welcome', mp3, { 'content-type': 'audio/mpeg' });
      assert.equal(replaced.status, 200, 'the same name replaces');
      assert.deepEqual(
        (await api.get('/prompts')).body.items.map((p: { name: string }) => p.name),
        ['welcome'],
      );
      assert.equal((await api.get('/prompts/welcome')).body.name, 'welcome');
      assert.equal((await api.delete('/prompts/welcome')).status, 204);
      assert.equal((await api.get('/prompts/welcome')).status, 404);
      assert.equal((await api.delete('/prompts/welcome')).status, 404);
    });

    test('what is not usable audio is a 400 that says why', async () => {
      const html = await api.request('PUT', '/prompts/bad', Buffer.from('<html>not audio</html>'), { 'content-type': 'audio/wav' });
      assert.equal(html.status, 400);
      assert.equal(html.body.error, 'bad: the file is neither WAV nor MP3');
      const empty = await api.request('PUT', '/prompts/bad', new Uint8Array(0), { 'content-type': 'audio/wav' });
      assert.equal(empty.status, 400);
      assert.match(empty.body.error, /send the audio file/);
      assert.equal((await api.request('PUT', '/prompts/has%20space', cdQualityWav(0.1))).status, 400);
      const tone = await api.request('PUT', '/prompts/busy', cdQualityWav(0.1));
      assert.equal(tone.status, 400);
      assert.match(tone.body.error, /built-in tone/);
      assert.equal((await api.get('/prompts/bad')).status, 404, 'nothing was stored');
    });

    test('a test run takes the digits pressed, plays only prompts the tenant has, and shows what the caller heard', async () => {
      assert.equal((await api.request('PUT', '/prompts/menu', cdQualityWav(0.5))).status, 201);
      const source = `export default async function () {
        await answer();
        const choice = await collect({ digits: 1, timeout: 5, prompt: 'menu' });
        if (choice === '2') return dial('support');
        await play('not-uploaded');
      }`;
      assert.equal((await api.request('PUT', '/dialplans/ivr', { source })).status, 201);
      const two = await api.post('/dialplans/ivr/simulate', { digits: '2', outcomes: { support: 'answered' } });
      assert.equal(two.status, 200, JSON.stringify(two.body));
      assert.deepEqual(
        two.body.actions.map((a: { type: string; digits?: string }) => (a.type === 'collect' ? `collect ${a.digits}` : a.type)),
        ['answer', 'collect 2', 'dial'],
      );
      const none = await api.post('/dialplans/ivr/simulate', {});
      assert.equal(none.body.outcome, 'error');
      assert.match(none.body.error.message, /there is no prompt named not-uploaded/);
      assert.equal((await api.post('/dialplans/ivr/simulate', { digits: 'x' })).status, 400);
    });

    test('built-in tones are listed and served', async () => {
      const tones = await api.get('/tones');
      assert.deepEqual(
        tones.body.items.map((t: { name: string; durationMs: number }) => [t.name, t.durationMs]),
        [
          ['ringback', 6000],
          ['busy', 1000],
          ['beep', 250],
        ],
      );
      const wav = await api.get('/tones/busy/audio');
      assert.equal(wav.status, 200);
      assert.equal(wav.headers.get('content-type'), 'audio/wav');
      assert.equal((await api.get('/tones/nope/audio')).status, 404);
    });

    test('recordings: listed by call, played in ranges, downloaded, shown with their call record, deleted with their file', async () => {
      const files = new RecordingFiles(sw.db.dir);
      const callId = newId();
      const ids: string[] = [];
      for (const [i, call] of [callId, callId, 'other-call'].entries()) {
        const id = newId();
        const place = files.place(tenantId, id);
        mkdirSync(path.dirname(place.absolute), { recursive: true });
        const wav = writeWav(tone(440, 500 * (i + 1)));
        writeFileSync(place.absolute, wav);
        await sw.running.store
          .tenant(tenantId)
          .recordings.add({ id, callId: call, channelId: `ch-${i}`, file: place.relative, durationMs: 500 * (i + 1), bytes: wav.length, createdAt: Date.now() });
        ids.push(id);
      }
      const all = await api.get('/recordings');
      assert.deepEqual(
        all.body.items.map((r: { id: string }) => r.id),
        [...ids].reverse(),
      );
      const ofCall = await api.get(`/recordings?callId=${callId}`);
      assert.deepEqual(
        ofCall.body.items.map((r: { id: string }) => r.id),
        [ids[1], ids[0]],
      );
      const one = (await api.get(`/recordings/${ids[0]}`)).body;
      assert.equal(one.audioUrl, `/api/v1/recordings/${ids[0]}/audio`);
      assert.equal(one.cdrId, null, 'no call record yet');
      const key = await apiKey(api);
      const full = await fetch(`${sw.httpUrl}${one.audioUrl}`, { headers: { authorization: `Bearer ${key}` } });
      assert.equal(full.headers.get('content-type'), 'audio/wav');
      assert.equal(full.headers.get('content-disposition'), null, 'inline, for the player');
      assert.deepEqual(Buffer.from(await full.arrayBuffer()), readFileSync(files.absolute(`${tenantId}/${ids[0]}.wav`)));
      const part = await fetch(`${sw.httpUrl}${one.audioUrl}`, { headers: { authorization: `Bearer ${key}`, range: 'bytes=0-43' } });
      assert.equal(part.status, 206, 'the player can seek');
      assert.equal((await part.arrayBuffer()).byteLength, 44);
      const download = await fetch(`${sw.httpUrl}${one.audioUrl}?download=1`, { headers: { authorization: `Bearer ${key}` } });
      assert.equal(download.headers.get('content-disposition'), `attachment; filename="recording-${ids[0]}.wav"`);
      await download.arrayBuffer();

      const record = finalise(newCallState({ type: 'call.ended', tenantId, callId, nodeId: 'n', seq: 1, at: Date.now() }), Date.now());
      await sw.running.store.cdrs.insert([record]);
      const cdr = (await api.get(`/cdrs/${record.id}`)).body;
      assert.equal((await api.get(`/recordings/${ids[0]}`)).body.cdrId, record.id, 'a recording leads to its call record');
      assert.deepEqual(
        (await api.get('/recordings')).body.items.map((r: { cdrId: string | null }) => r.cdrId),
        [null, record.id, record.id],
      );
      assert.deepEqual(
        cdr.recordings.map((r: { id: string; durationMs: number }) => [r.id, r.durationMs]),
        [
          [ids[0], 500],
          [ids[1], 1000],
        ],
      );

      assert.equal((await api.delete(`/recordings/${ids[0]}`)).status, 204);
      assert.equal(existsSync(files.absolute(`${tenantId}/${ids[0]}.wav`)), false, 'its file is gone');
      assert.equal((await api.get(`/recordings/${ids[0]}`)).status, 404);
      assert.equal((await api.get('/recordings/not-an-id')).status, 400);
    });
  });
}

const keys = new WeakMap<ApiClient, string>();
/** A bearer key of the tenant, for plain fetches (the audio, as a player or a download gets it). */
async function apiKey(api: ApiClient): Promise<string> {
  const known = keys.get(api);
  if (known) return known;
  const r = await api.post('/api-keys', { name: `audio-${newId().slice(-6)}` });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  keys.set(api, r.body.key);
  return r.body.key;
}
