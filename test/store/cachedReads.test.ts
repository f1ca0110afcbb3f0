/**
 * What calls read through the per-node caches (server/store/README.md, "Caches and database
 * outages"), on SQLite and MySQL: each tenant sees its own dialplans and settings, this node's
 * writes show at once, another node's (a second Store on the same database) once the TTL has passed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { computeHa1 } from '../../server/sip/digest.ts';
import { Store } from '../../server/store/index.ts';
import { newId } from '../../server/store/ids.ts';
import { createTestDatabase, DIALECTS, skipUnless, type TestDatabase } from '../helpers/databases.ts';
import { elapse } from '../helpers/time.ts';

const TTL_MS = 5000;

for (const dialect of DIALECTS) {
  describe(`cached reads for calls [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    let db: TestDatabase;
    let store: Store;
    before(async () => {
      db = await createTestDatabase(dialect);
      store = await Store.open(db.url);
    });
    after(async () => {
      await store?.close();
      await db?.drop();
    });
    const tenant = async (s = store) => s.tenant((await s.directory.createTenantWithOwner(`c-${newId()}@x.test`, 'h')).tenantId);

    test("the same dialplan name in two tenants: each reads its own, and one's change leaves the other's cached value alone", async () => {
      const a = await tenant();
      const b = await tenant();
      await a.dialplans.save('default', 'a1');
      assert.equal(await b.dialplans.currentCached('default'), undefined, 'absent for b (and cached so)');
      assert.deepEqual(await a.dialplans.currentCached('default'), { version: 1, source: 'a1' });
      await b.dialplans.save('default', 'b1');
      assert.deepEqual(await b.dialplans.currentCached('default'), { version: 1, source: 'b1' }, "b's save invalidated b's absent entry");
      assert.deepEqual(await a.dialplans.currentCached('default'), { version: 1, source: 'a1' });
      await a.dialplans.save('default', 'a2');
      assert.deepEqual(await a.dialplans.currentCached('default'), { version: 2, source: 'a2' });
      assert.deepEqual(await b.dialplans.currentCached('default'), { version: 1, source: 'b1' });
    });

    test("this node's saves, restores and deletes reach calls at once", async () => {
      const t = await tenant();
      await t.dialplans.save('route', 'v1');
      assert.equal((await t.dialplans.currentCached('route'))!.source, 'v1');
      await t.dialplans.save('route', 'v2');
      assert.equal((await t.dialplans.currentCached('route'))!.source, 'v2');
      // A restore is a save of an old version's source.
      await t.dialplans.save('route', (await t.dialplans.version('route', 1))!.source);
      assert.deepEqual(await t.dialplans.currentCached('route'), { version: 3, source: 'v1' });
      await t.dialplans.delete('route');
      assert.equal(await t.dialplans.currentCached('route'), undefined);
      await t.dialplans.create('route', 'again');
      assert.deepEqual(await t.dialplans.currentCached('route'), { version: 1, source: 'again' });
    });

    test("this node's settings update reaches calls at once; tenants keep their own", async () => {
      const a = await tenant();
      const b = await tenant();
      assert.equal((await a.settings.getCached())!.timeZone, 'UTC');
      assert.equal((await b.settings.getCached())!.timeZone, 'UTC');
      await a.settings.update({ timeZone: 'Europe/Berlin' });
      assert.equal((await a.settings.getCached())!.timeZone, 'Europe/Berlin');
      assert.equal((await b.settings.getCached())!.timeZone, 'UTC');
    });

    test("another node's changes show once the TTL has passed", { timeout: 30_000 }, async () => {
      const other = await Store.open(db.url);
      try {
        const here = await tenant();
        const there = other.tenant(here.tenantId);
        const username = `c${newId().slice(-12).replace(/-/g, '')}`;
        const acct = await here.sipAccounts.create({
          username,
          displayName: null,
          realm: 'r',
          ha1Md5: computeHa1('MD5', username, 'r', 'pw'),
          ha1Sha256: computeHa1('SHA-256', username, 'r', 'pw'),
          digestAlgorithms: null,
        });
        await here.dialplans.save('default', 'old');
        // Read (and cached) here.
        assert.equal((await store.sipAccountLookup.byUsername(username))!.enabled, true);
        assert.equal((await here.dialplans.currentCached('default'))!.source, 'old');
        assert.equal((await here.settings.getCached())!.timeZone, 'UTC');
        const changedAt = Date.now();
        await there.sipAccounts.update(acct.id, { enabled: false });
        other.sipAccountLookup.invalidate(username);
        await there.dialplans.save('default', 'new');
        await there.settings.update({ timeZone: 'Asia/Tokyo' });

        // Still the cached values here (the database already has the new ones); checked only while
        // the TTL surely has not run out, which on a machine stalled for seconds it might have.
        assert.equal((await here.dialplans.current('default'))!.source, 'new');
        if (Date.now() - changedAt < TTL_MS - 500) {
          assert.equal((await store.sipAccountLookup.byUsername(username))!.enabled, true);
          assert.equal((await here.dialplans.currentCached('default'))!.source, 'old');
          assert.equal((await here.settings.getCached())!.timeZone, 'UTC');
        }
        await elapse(TTL_MS + 100 - (Date.now() - changedAt));
        assert.equal((await store.sipAccountLookup.byUsername(username))!.enabled, false);
        assert.equal((await here.dialplans.currentCached('default'))!.source, 'new');
        assert.equal((await here.settings.getCached())!.timeZone, 'Asia/Tokyo');
      } finally {
        await other.close();
      }
    });
  });
}
