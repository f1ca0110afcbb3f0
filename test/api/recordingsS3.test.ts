/**
 * Recordings in an S3-compatible bucket (RECORDINGS_S3_*), against a real S3 API server on
 * loopback (s3rver): a finished recording is uploaded and its local file removed; the portal's
 * player gets its bytes and ranges from the bucket; deleting it (or its retention) deletes the
 * object; another tenant gets 404. A bucket that does not answer loses nothing: the recording stays
 * in its local file and plays from there.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { pino } from 'pino';
import S3rver from 's3rver';
import type { S3Settings } from '../../server/config.ts';
import { writeWav } from '../../server/media/audio/wav.ts';
import { openRecordingStore, type RecordingStore } from '../../server/recordings/recordingStore.ts';
import { purgeRecordings } from '../../server/recordings/retention.ts';
import { newId } from '../../server/store/ids.ts';
import { signUp, type ApiClient } from '../helpers/api.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { tone } from '../media/audioSignal.ts';

const BUCKET = 'recordings';
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
const silent = pino({ level: 'silent' });

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

/** A port nothing listens on (bound, then let go). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('recordings in an S3-compatible bucket (s3rver on loopback)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sipswitch-s3-'));
  let server: S3rver;
  let endpoint: string;
  let s3: S3Client;
  let settings: S3Settings;

  before(async () => {
    server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: path.join(dir, 'bucket-data') });
    const { port } = await server.run();
    endpoint = `http://127.0.0.1:${port}`;
    s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: CREDENTIALS });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    settings = { bucket: BUCKET, region: 'us-east-1', prefix: 'switch-a/', endpoint, credentials: CREDENTIALS };
  });
  after(async () => {
    s3?.destroy();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const objectExists = async (key: string) =>
    s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })).then(
      () => true,
      () => false,
    );

  /** A finished recording in its local file, as an engine leaves it. */
  function recorded(store: RecordingStore, tenantId: string, ms: number): { id: string; relative: string; wav: Buffer; local: string } {
    const id = newId();
    const place = store.place(tenantId, id);
    mkdirSync(path.dirname(place.absolute), { recursive: true });
    const wav = writeWav(tone(440, ms));
    writeFileSync(place.absolute, wav);
    return { id, relative: place.relative, wav, local: place.absolute };
  }

  test('kept: uploaded under the prefix, the local file removed; read whole and in ranges; removed', async () => {
    const store = await openRecordingStore({ retentionDays: 90, bytesPerTenant: 1 << 30, s3: settings }, path.join(dir, 'node-a'), silent);
    assert.equal(store.kind, 's3');
    const r = recorded(store, newId(), 700);
    await store.keep(r.relative);
    assert.equal(existsSync(r.local), false, 'the local copy is gone once uploaded');
    const stored = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: `switch-a/${r.relative}` }));
    assert.deepEqual(Buffer.from(await stored.Body!.transformToByteArray()), r.wav);
    assert.equal(await store.size(r.relative), r.wav.length);
    assert.deepEqual(await readAll(await store.open(r.relative)), r.wav);
    assert.deepEqual(await readAll(await store.open(r.relative, { start: 44, end: 143 })), r.wav.subarray(44, 144));
    await store.remove(r.relative);
    assert.equal(await objectExists(`switch-a/${r.relative}`), false);
    assert.equal(await store.size(r.relative), undefined);
  });

  test('a bucket that does not answer loses nothing: the recording stays local and plays', async () => {
    const down = { ...settings, endpoint: `http://127.0.0.1:${await closedPort()}` };
    const store = await openRecordingStore({ retentionDays: 90, bytesPerTenant: 1 << 30, s3: down }, path.join(dir, 'node-b'), silent);
    const r = recorded(store, newId(), 300);
    await store.keep(r.relative);
    assert.ok(existsSync(r.local), 'kept on this node');
    assert.equal(await store.size(r.relative), r.wav.length);
    assert.deepEqual(await readAll(await store.open(r.relative)), r.wav);
  });

  describe('through the API and retention (a switch configured with the bucket)', () => {
    let sw: TestSwitch;
    let api: ApiClient;
    let other: ApiClient;
    let tenantId: string;
    let store: RecordingStore;
    before(async () => {
      sw = await startTestSwitch('sqlite', {
        env: {
          RECORDINGS_S3_BUCKET: BUCKET,
          RECORDINGS_S3_ENDPOINT: endpoint,
          RECORDINGS_S3_PREFIX: 'switch-a/',
          RECORDINGS_S3_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
          RECORDINGS_S3_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
        },
      });
      api = await signUp(sw.httpUrl);
      other = await signUp(sw.httpUrl);
      tenantId = (await api.get('/me')).body.tenant.id;
      // The same store a recording made on this switch goes through.
      store = await openRecordingStore(sw.running.config.recordings, sw.db.dir, silent);
    });
    after(async () => {
      await sw?.close();
    });

    async function kept(ms: number, createdAt = Date.now()) {
      const r = recorded(store, tenantId, ms);
      await store.keep(r.relative);
      await sw.running.store.tenant(tenantId).recordings.add({ id: r.id, callId: newId(), channelId: newId(), file: r.relative, durationMs: ms, bytes: r.wav.length, createdAt });
      return r;
    }

    test('the player gets the bytes and ranges from the bucket; delete removes the object; another tenant gets 404', async () => {
      const r = await kept(900);
      assert.equal(existsSync(r.local), false);
      const full = await api.raw(`/recordings/${r.id}/audio`);
      assert.equal(full.status, 200);
      assert.equal(full.headers.get('content-type'), 'audio/wav');
      assert.deepEqual(Buffer.from(await full.arrayBuffer()), r.wav);
      const part = await api.raw(`/recordings/${r.id}/audio`, { range: 'bytes=100-199' });
      assert.equal(part.status, 206);
      assert.equal(part.headers.get('content-range'), `bytes 100-199/${r.wav.length}`);
      assert.deepEqual(Buffer.from(await part.arrayBuffer()), r.wav.subarray(100, 200));
      const beyond = await api.raw(`/recordings/${r.id}/audio`, { range: `bytes=${r.wav.length + 10}-` });
      assert.equal(beyond.status, 416);
      await beyond.arrayBuffer();

      assert.equal((await other.raw(`/recordings/${r.id}/audio`)).status, 404);
      assert.equal((await other.delete(`/recordings/${r.id}`)).status, 404);
      assert.ok(await objectExists(`switch-a/${r.relative}`), "another tenant's delete did nothing");

      assert.equal((await api.delete(`/recordings/${r.id}`)).status, 204);
      assert.equal(await objectExists(`switch-a/${r.relative}`), false);
    });

    test('retention deletes old recordings from the bucket', async () => {
      const old = await kept(200, Date.now() - 100 * 86_400_000);
      const fresh = await kept(200);
      const deleted = await purgeRecordings({ archive: sw.running.store.recordings, files: store }, Date.now() - 90 * 86_400_000);
      assert.equal(deleted, 1);
      assert.equal(await objectExists(`switch-a/${old.relative}`), false);
      assert.ok(await objectExists(`switch-a/${fresh.relative}`));
      assert.equal((await api.raw(`/recordings/${old.id}/audio`)).status, 404);
      assert.deepEqual(Buffer.from(await (await api.raw(`/recordings/${fresh.id}/audio`)).arrayBuffer()), fresh.wav);
    });
  });
});
