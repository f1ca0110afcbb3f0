/**
 * The per-tenant key/value store is bounded in keys, in the size of one value and in total bytes
 * (keys and values), exactly, under concurrent writes, on both dialects; the totals of a store that
 * existed before they were kept are counted at upgrade.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { migrateTo, openDatabase } from '../../server/store/db.ts';
import { newId } from '../../server/store/ids.ts';
import { Store } from '../../server/store/index.ts';
import { entryBytes, KvQuotaError, TenantKv } from '../../server/store/kv.ts';
import { createTestDatabase, DIALECTS, skipUnless, type TestDatabase } from '../helpers/databases.ts';

for (const dialect of DIALECTS) {
  describe(`key/value quota [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    let db: TestDatabase;
    let store: Store;
    const tenant = async () => (await store.directory.createTenantWithOwner(`kv-${newId()}@x.test`, 'h')).tenantId;
    before(async () => {
      db = await createTestDatabase(dialect);
      store = await Store.open(db.url);
    });
    after(async () => {
      await store?.close();
      await db?.drop();
    });

    test('total bytes are capped; overwriting and deleting give bytes back', async () => {
      const kv = new TenantKv(store.kysely, await tenant(), { maxKeys: 100, maxValueBytes: 1000, maxTotalBytes: 2500 });
      const big = 'x'.repeat(990); // 992 bytes of JSON
      await kv.set('a', big);
      await kv.set('b', big);
      await assert.rejects(kv.set('c', big), (err: Error) => err instanceof KvQuotaError && /at most 2500 \(keys and values\)/.test(err.message));
      assert.equal(await kv.get('c'), undefined, 'nothing written');
      assert.deepEqual(await kv.usage(), { keys: 2, bytes: 2 * entryBytes('a', JSON.stringify(big)) });
      await kv.set('a', 'small');
      await kv.set('c', big);
      assert.equal(await kv.delete('b'), true);
      assert.equal(await kv.delete('b'), false);
      await kv.set('d', big);
      assert.deepEqual(await kv.usage(), { keys: 3, bytes: entryBytes('a', '"small"') + 2 * entryBytes('c', JSON.stringify(big)) });
      await assert.rejects(kv.set('e', 'y'.repeat(1000)), (err: Error) => err instanceof KvQuotaError && /at most 1000/.test(err.message));
    });

    test('concurrent writes are counted one after the other: exactly the quota fits', async () => {
      const tenantId = await tenant();
      const limits = { maxKeys: 10, maxValueBytes: 100, maxTotalBytes: 100_000 };
      const writers = Array.from({ length: 25 }, (_, i) => new TenantKv(store.kysely, tenantId, limits).set(`k${i}`, i));
      const results = await Promise.allSettled(writers);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 10);
      for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof KvQuotaError, String(r.reason));
      const kv = new TenantKv(store.kysely, tenantId, limits);
      assert.equal((await kv.keys()).length, 10);
      assert.equal((await kv.usage()).keys, 10);
      // The same new key from many writers at once: one key, counted once.
      const other = new TenantKv(store.kysely, await tenant(), limits);
      await Promise.all(Array.from({ length: 10 }, (_, i) => other.set('same', i)));
      assert.deepEqual(await other.usage(), { keys: 1, bytes: entryBytes('same', '0') });
    });

    test('the default limits include total bytes', async () => {
      const kv = store.tenant(await tenant()).kv;
      assert.ok(kv.limits.maxTotalBytes > 0 && kv.limits.maxTotalBytes <= 64 * 1024 * 1024);
      assert.ok(kv.limits.maxTotalBytes < kv.limits.maxKeys * kv.limits.maxValueBytes, 'reachable before keys × value size');
    });
  });

  describe(`key/value totals across the upgrade [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    test('a store written before totals were kept is counted (UTF-8 bytes)', async () => {
      const tdb = await createTestDatabase(dialect);
      try {
        const db = openDatabase(tdb.url);
        try {
          await migrateTo(db, '007_toll_fraud');
          await db.kysely
            .insertInto('tenants')
            .values({ id: 'old', name: 'old@x.test', time_zone: 'UTC', created_at: 0 } as never)
            .execute();
          await db.kysely
            .insertInto('kv')
            .values([
              { tenant_id: 'old', k: 'grüße', v: '"Zürich"', updated_at: 0 },
              { tenant_id: 'old', k: 'n', v: '42', updated_at: 0 },
            ])
            .execute();
          await migrateTo(db);
        } finally {
          await db.close();
        }
        const store = await Store.open(tdb.url);
        try {
          const kv = new TenantKv(store.kysely, 'old', { maxTotalBytes: entryBytes('grüße', '"Zürich"') + entryBytes('n', '42') + 3 });
          assert.deepEqual(await kv.usage(), { keys: 2, bytes: entryBytes('grüße', '"Zürich"') + entryBytes('n', '42') });
          await kv.set('m', 1);
          await assert.rejects(kv.set('o', 1), KvQuotaError);
        } finally {
          await store.close();
        }
      } finally {
        await tdb.drop();
      }
    });
  });
}
