/** Tenant isolation enforced by the data layer itself, below any HTTP route. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { computeHa1 } from '../../server/sip/digest.ts';
import { Store } from '../../server/store/index.ts';
import { newId } from '../../server/store/ids.ts';
import { createTestDatabase, DIALECTS, skipUnless, type TestDatabase } from '../helpers/databases.ts';

const account = (username: string) => ({
  username,
  displayName: null,
  realm: 'r',
  ha1Md5: computeHa1('MD5', username, 'r', 'pw'),
  ha1Sha256: computeHa1('SHA-256', username, 'r', 'pw'),
  digestAlgorithms: null,
});

for (const dialect of DIALECTS) {
  describe(`store tenant scoping [${dialect}]`, { skip: skipUnless(dialect) }, () => {
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

    test('migrations are idempotent: opening again changes nothing', async () => {
      /** Every table with its columns and their types, and the migrations recorded as applied. */
      const shape = async (s: Store) => ({
        tables: (await s.kysely.introspection.getTables()).map((t) => `${t.name}(${t.columns.map((c) => `${c.name} ${c.dataType}`).join(', ')})`).sort(),
        applied: (await sql<{ name: string }>`SELECT name FROM kysely_migration ORDER BY name`.execute(s.kysely)).rows.map((r) => r.name),
      });
      const { tenantId } = await store.directory.createTenantWithOwner(`idem-${newId()}@x.test`, 'h');
      const first = await shape(store);
      assert.ok(first.tables.length > 5 && first.applied.length > 0, JSON.stringify(first));
      const again = await Store.open(db.url);
      try {
        assert.deepEqual(await shape(again), first);
        assert.ok(await again.tenant(tenantId).settings.get(), 'rows written before are still there');
      } finally {
        await again.close();
      }
    });

    test("one tenant's scope cannot read, change or delete another's accounts and bindings", async () => {
      const a = await store.directory.createTenantWithOwner(`a-${newId()}@x.test`, 'h');
      const b = await store.directory.createTenantWithOwner(`b-${newId()}@x.test`, 'h');
      const sa = store.tenant(a.tenantId);
      const sb = store.tenant(b.tenantId);
      const acct = await sa.sipAccounts.create(account(`ua${Date.now().toString(36)}`));
      const now = Date.now();
      await store.location.apply(
        {
          upsert: [
            {
              id: newId(),
              tenantId: a.tenantId,
              accountId: acct.id,
              contactHash: 'h1',
              contactUri: 'sip:x@127.0.0.1:5',
              callId: 'c',
              cseq: 1,
              expiresAt: now + 60_000,
              sourceIp: '127.0.0.1',
              sourcePort: 5,
              transport: 'udp',
              userAgent: null,
              algorithm: 'MD5',
              nodeId: 'n',
              createdAt: now,
              updatedAt: now,
            },
          ],
          remove: [],
        },
        new Set(),
      );
      assert.equal(await sb.sipAccounts.get(acct.id), undefined);
      assert.equal(await sb.sipAccounts.update(acct.id, { enabled: false }), undefined);
      assert.equal(await sb.sipAccounts.delete(acct.id), false);
      assert.deepEqual(await sb.sipAccounts.list(), []);
      assert.deepEqual(await sb.registrations.list(now), []);
      assert.deepEqual(await sb.registrations.list(now, acct.id), []);
      assert.equal((await sa.sipAccounts.get(acct.id))!.enabled, true);
      assert.equal((await sa.registrations.list(now)).length, 1);
      const key = await sa.apiKeys.create('k');
      assert.equal(await sb.apiKeys.delete(key.key.id), false);
      assert.equal((await sa.apiKeys.list()).length, 1);
    });

    test('deleting an account removes its bindings', async () => {
      const t = await store.directory.createTenantWithOwner(`c-${newId()}@x.test`, 'h');
      const s = store.tenant(t.tenantId);
      const acct = await s.sipAccounts.create(account(`uc${Date.now().toString(36)}`));
      const now = Date.now();
      await store.location.apply(
        {
          upsert: [
            {
              id: newId(),
              tenantId: t.tenantId,
              accountId: acct.id,
              contactHash: 'h2',
              contactUri: 'sip:y@127.0.0.1:6',
              callId: 'c',
              cseq: 1,
              expiresAt: now + 60_000,
              sourceIp: '127.0.0.1',
              sourcePort: 6,
              transport: 'udp',
              userAgent: null,
              algorithm: 'MD5',
              nodeId: 'n',
              createdAt: now,
              updatedAt: now,
            },
          ],
          remove: [],
        },
        new Set(),
      );
      assert.equal(await s.sipAccounts.delete(acct.id), true);
      assert.deepEqual(await store.location.bindings(acct.id, now), []);
    });

    test('expired bindings are purged in batches', async () => {
      const t = await store.directory.createTenantWithOwner(`d-${newId()}@x.test`, 'h');
      const acct = await store.tenant(t.tenantId).sipAccounts.create(account(`ud${Date.now().toString(36)}`));
      const now = Date.now();
      const upsert = Array.from({ length: 7 }, (_, i) => ({
        id: newId(),
        tenantId: t.tenantId,
        accountId: acct.id,
        contactHash: `e${i}`,
        contactUri: `sip:z@127.0.0.1:${i + 1}`,
        callId: 'c',
        cseq: 1,
        expiresAt: now - 1000,
        sourceIp: '127.0.0.1',
        sourcePort: i + 1,
        transport: 'udp',
        userAgent: null,
        algorithm: 'MD5',
        nodeId: 'n',
        createdAt: now,
        updatedAt: now,
      }));
      await store.location.apply({ upsert, remove: [] }, new Set());
      assert.equal(await store.location.purgeExpired(now, 5), 5);
      assert.equal(await store.location.purgeExpired(now, 5), 2);
      assert.equal(await store.location.purgeExpired(now, 5), 0);
    });

    test('sessions expire and are stored hashed', async () => {
      const u = await store.directory.createTenantWithOwner(`e-${newId()}@x.test`, 'h');
      await store.directory.createSession(u, 'token-1', 1000, 1_000);
      assert.ok(await store.directory.principalForSession('token-1', 1_500));
      assert.equal(await store.directory.principalForSession('token-1', 2_500), undefined);
      const rows = await store.kysely.selectFrom('sessions').select('id').where('user_id', '=', u.id).execute();
      assert.notEqual(rows[0]!.id, 'token-1');
    });
  });
}
