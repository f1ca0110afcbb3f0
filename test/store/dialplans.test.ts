import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Store } from '../../server/store/index.ts';
import { newId } from '../../server/store/ids.ts';
import { KvQuotaError, TenantKv } from '../../server/store/kv.ts';
import { createTestDatabase, DIALECTS, skipUnless, type TestDatabase } from '../helpers/databases.ts';

for (const dialect of DIALECTS) {
  describe(`dialplans and key/value store [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    let db: TestDatabase;
    let store: Store;
    const tenant = async () => store.tenant((await store.directory.createTenantWithOwner(`t-${newId()}@x.test`, 'h')).tenantId);
    before(async () => {
      db = await createTestDatabase(dialect);
      store = await Store.open(db.url);
    });
    after(async () => {
      await store?.close();
      await db?.drop();
    });

    test('saving adds versions; any version can be read; the current one is what runs', async () => {
      const t = await tenant();
      assert.equal(await t.dialplans.save('default', 'v1'), 1);
      assert.equal(await t.dialplans.save('default', 'v2'), 2);
      assert.deepEqual(await t.dialplans.current('default'), { version: 2, source: 'v2' });
      assert.equal((await t.dialplans.version('default', 1))!.source, 'v1');
      const d = (await t.dialplans.get('default'))!;
      assert.deepEqual(
        d.versions.map((v) => v.version),
        [2, 1],
      );
      assert.equal(d.source, 'v2');
      assert.deepEqual(
        (await t.dialplans.list()).map((x) => [x.name, x.version]),
        [['default', 2]],
      );
    });

    test("dialplans are per tenant: the same name in two tenants, neither sees the other's", async () => {
      const a = await tenant();
      const b = await tenant();
      await a.dialplans.save('default', 'a-src');
      assert.equal(await b.dialplans.get('default'), undefined);
      assert.equal(await b.dialplans.current('default'), undefined);
      assert.equal(await b.dialplans.version('default', 1), undefined);
      assert.equal(await b.dialplans.delete('default'), false);
      await b.dialplans.save('default', 'b-src');
      assert.equal((await a.dialplans.current('default'))!.source, 'a-src');
      assert.equal(await a.dialplans.delete('default'), true);
      assert.equal((await b.dialplans.current('default'))!.source, 'b-src');
    });

    test('concurrent saves each get their own version number', async () => {
      const t = await tenant();
      await t.dialplans.save('busy', 'v1');
      const versions = await Promise.all([2, 3, 4, 5].map((i) => t.dialplans.save('busy', `v${i}`)));
      assert.deepEqual([...versions].sort(), [2, 3, 4, 5]);
    });

    test('key/value: JSON values, case-sensitive keys, prefixes, per tenant', async () => {
      const a = await tenant();
      const b = await tenant();
      await a.kv.set('block:+1555', { reason: 'spam', n: 3 });
      await a.kv.set('Block:+1555', true);
      await a.kv.set('other', [1, 'x', null]);
      assert.deepEqual(await a.kv.get('block:+1555'), { reason: 'spam', n: 3 });
      assert.equal(await a.kv.get('Block:+1555'), true);
      assert.deepEqual(await a.kv.keys('block:'), ['block:+1555']);
      assert.equal(await b.kv.get('block:+1555'), undefined);
      assert.deepEqual(await b.kv.keys(), []);
      assert.equal(await b.kv.delete('other'), false);
      await a.kv.set('other', 'replaced');
      assert.equal(await a.kv.get('other'), 'replaced');
      assert.equal(await a.kv.delete('other'), true);
      assert.equal(await a.kv.get('other'), undefined);
    });

    test('key/value quotas', async () => {
      const t = await tenant();
      const kv = new TenantKv(store.kysely, t.tenantId, { maxKeys: 2, maxValueBytes: 20 });
      await kv.set('a', 1);
      await kv.set('b', 2);
      await assert.rejects(kv.set('c', 3), KvQuotaError);
      await kv.set('a', 'still fits');
      await assert.rejects(kv.set('a', 'x'.repeat(50)), KvQuotaError);
    });
  });
}
