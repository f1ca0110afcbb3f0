/** Prompts and recordings in the data layer, on both dialects: limits, paging, retention, and tenants apart. */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RecordingFiles } from '../../server/recordings/recordingFiles.ts';
import { purgeRecordings } from '../../server/recordings/retention.ts';
import { newId } from '../../server/store/ids.ts';
import { Store } from '../../server/store/index.ts';
import { MAX_PROMPTS, PromptQuotaError } from '../../server/store/prompts.ts';
import { createTestDatabase, DIALECTS, skipUnless, type TestDatabase } from '../helpers/databases.ts';

const audio = (n: number) => ({ wav: Buffer.alloc(n, 7), durationMs: n / 16 });

for (const dialect of DIALECTS) {
  describe(`prompts and recordings [${dialect}]`, { skip: skipUnless(dialect), timeout: 120_000 }, () => {
    let db: TestDatabase;
    let store: Store;
    const dataDir = mkdtempSync(path.join(tmpdir(), 'recordings-test-'));
    before(async () => {
      db = await createTestDatabase(dialect);
      store = await Store.open(db.url);
    });
    after(async () => {
      await store?.close();
      await db?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    });
    const tenant = async () => store.tenant((await store.directory.createTenantWithOwner(`t-${newId()}@x.test`, 'h')).tenantId);

    test('a prompt is added, replaced, read back byte for byte, listed by name, deleted; another tenant sees none of it', async () => {
      const a = await tenant();
      const b = await tenant();
      // Bigger than MySQL's 64 KB BLOB: a 5-minute prompt is 4.8 MB.
      const big = Buffer.alloc(4_800_044);
      for (let i = 0; i < big.length; i++) big[i] = i % 251;
      assert.equal((await a.prompts.put('welcome', { wav: big, durationMs: 300_000 })).created, true);
      assert.equal((await a.prompts.put('closed', audio(1600))).created, true);
      assert.deepEqual(await a.prompts.audio('welcome'), big);
      const replaced = await a.prompts.put('closed', audio(3200));
      assert.equal(replaced.created, false);
      assert.equal(replaced.prompt.bytes, 3200);
      assert.deepEqual(
        (await a.prompts.list()).map((p) => [p.name, p.durationMs, p.bytes]),
        [
          ['closed', 200, 3200],
          ['welcome', 300_000, 4_800_044],
        ],
      );
      assert.deepEqual(await b.prompts.list(), []);
      assert.equal(await b.prompts.audio('welcome'), undefined);
      assert.equal(await b.prompts.delete('welcome'), false);
      assert.equal((await b.prompts.put('welcome', audio(16))).created, true, 'names are per tenant');
      assert.deepEqual(await a.prompts.audio('welcome'), big, "the other tenant's prompt of that name is its own");
      assert.equal(await a.prompts.delete('welcome'), true);
      assert.equal(await a.prompts.info('welcome'), undefined);
    });

    test(`a tenant may have ${MAX_PROMPTS} prompts; the next is refused, a replacement is not`, async () => {
      const a = await tenant();
      for (let i = 0; i < MAX_PROMPTS; i++) await a.prompts.put(`p${i}`, audio(16));
      await assert.rejects(a.prompts.put('one-more', audio(16)), PromptQuotaError);
      assert.equal((await a.prompts.put('p7', audio(32))).created, false);
      await a.prompts.delete('p0');
      assert.equal((await a.prompts.put('one-more', audio(16))).created, true);
    });

    test('recordings are listed newest first, by call, paged; read, counted and deleted only by their tenant', async () => {
      const a = await tenant();
      const b = await tenant();
      const made = [];
      for (let i = 0; i < 5; i++) {
        made.push(
          await a.recordings.add({
            id: newId(),
            callId: i < 2 ? 'call-1' : 'call-2',
            channelId: `ch-${i}`,
            file: `x/${i}.wav`,
            durationMs: 1000 * i,
            bytes: 100 + i,
            createdAt: 1000 + i,
          }),
        );
      }
      const first = await a.recordings.list({}, { limit: 3 });
      assert.deepEqual(
        first.items.map((r) => r.channelId),
        ['ch-4', 'ch-3', 'ch-2'],
      );
      const second = await a.recordings.list({}, { limit: 3, before: first.nextCursor! });
      assert.deepEqual(
        second.items.map((r) => r.channelId),
        ['ch-1', 'ch-0'],
      );
      assert.equal(second.nextCursor, null);
      assert.deepEqual(
        (await a.recordings.list({ callId: 'call-1' }, { limit: 10 })).items.map((r) => r.channelId),
        ['ch-1', 'ch-0'],
      );
      assert.deepEqual(
        (await a.recordings.forCall('call-1')).map((r) => r.channelId),
        ['ch-0', 'ch-1'],
      );
      assert.equal(await a.recordings.totalBytes(), 510);
      assert.equal(await b.recordings.totalBytes(), 0);
      assert.deepEqual((await b.recordings.list({}, { limit: 10 })).items, []);
      assert.equal(await b.recordings.get(made[0]!.id), undefined);
      assert.equal(await b.recordings.delete(made[0]!.id), undefined);
      assert.deepEqual(await a.recordings.get(made[0]!.id), made[0]);
      assert.deepEqual(await a.recordings.delete(made[0]!.id), made[0]);
      assert.equal(await a.recordings.get(made[0]!.id), undefined);
    });

    test('retention deletes old recordings, file and row, of every tenant, and keeps newer ones', async () => {
      const files = new RecordingFiles(dataDir);
      const [a, b] = [await tenant(), await tenant()];
      const now = Date.now();
      const add = async (scope: typeof a, ageDays: number) => {
        const id = newId();
        const place = files.place(scope.tenantId, id);
        mkdirSync(path.dirname(place.absolute), { recursive: true });
        writeFileSync(place.absolute, 'RIFF');
        await scope.recordings.add({ id, callId: 'c', channelId: 'ch', file: place.relative, durationMs: 1, bytes: 4, createdAt: now - ageDays * 86_400_000 });
        return place;
      };
      const oldA = await add(a, 100);
      const oldB = await add(b, 91);
      const recent = await add(a, 10);
      // Other test files' rows share the database: only ones this old are this test's.
      const deleted = await purgeRecordings({ archive: store.recordings, files, batch: 1 }, now - 90 * 86_400_000);
      assert.ok(deleted >= 2);
      assert.equal(existsSync(oldA.absolute), false);
      assert.equal(existsSync(oldB.absolute), false);
      assert.equal(existsSync(recent.absolute), true);
      assert.deepEqual(
        (await a.recordings.list({}, { limit: 10 })).items.map((r) => r.file),
        [recent.relative],
      );
      assert.equal((await b.recordings.list({}, { limit: 10 })).items.length, 0);
    });
  });
}

test('recording paths stay under the recordings directory', () => {
  const files = new RecordingFiles('/data');
  assert.deepEqual(files.place('tenant-1', 'rec-1'), { relative: 'tenant-1/rec-1.wav', absolute: '/data/recordings/tenant-1/rec-1.wav' });
  assert.throws(() => files.place('../etc', 'x'));
  assert.throws(() => files.absolute('../../etc/passwd'), /leaves/);
});
