/**
 * Migration 007 on both dialects: tenants that existed before the international-calls guard keep
 * calling abroad; a tenant signing up afterwards starts with calls abroad off and the country it
 * gave.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { migrateTo, openDatabase } from '../../server/store/db.ts';
import { Store } from '../../server/store/index.ts';
import { createTestDatabase, DIALECTS, skipUnless } from '../helpers/databases.ts';

for (const dialect of DIALECTS) {
  describe(`international calls across the upgrade [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    test('existing tenants keep calling abroad; new ones start with it off', async () => {
      const tdb = await createTestDatabase(dialect);
      try {
        const db = openDatabase(tdb.url);
        try {
          await migrateTo(db, '006_providers');
          await db.kysely
            .insertInto('tenants')
            .values({ id: 'before-upgrade', name: 'old@x.test', time_zone: 'UTC', created_at: Date.now() } as never)
            .execute();
          assert.deepEqual(await migrateTo(db, '007_toll_fraud'), ['007_toll_fraud']);
        } finally {
          await db.close();
        }
        const store = await Store.open(tdb.url);
        try {
          const old = await store.tenant('before-upgrade').settings.get();
          assert.deepEqual([old?.country, old?.internationalCalls], [null, true]);
          const { tenantId } = await store.directory.createTenantWithOwner('new@x.test', 'h', { country: 'FR' });
          const fresh = await store.tenant(tenantId).settings.get();
          assert.deepEqual([fresh?.country, fresh?.internationalCalls], ['FR', false]);
          const changed = await store.tenant(tenantId).settings.update({ country: null, internationalCalls: true });
          assert.deepEqual([changed?.country, changed?.internationalCalls], [null, true]);
          assert.equal((await store.tenant('before-upgrade').settings.get())?.country, null, "another tenant's row is untouched");
        } finally {
          await store.close();
        }
      } finally {
        await tdb.drop();
      }
    });
  });
}
