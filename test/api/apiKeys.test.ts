/**
 * API keys carry a scope (full or read-only) and an optional expiry: a read-only key may only read,
 * an expired key is refused with a 401 that says so, and keys made before scopes existed keep
 * working as full keys that never expire.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { migrateTo, openDatabase } from '../../server/store/db.ts';
import { Store } from '../../server/store/index.ts';
import { sha256Hex } from '../../server/store/ids.ts';
import { ApiClient, signUp } from '../helpers/api.ts';
import { createTestDatabase, DIALECTS, skipUnless } from '../helpers/databases.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

const inAnHour = () => new Date(Date.now() + 3600_000).toISOString();

for (const dialect of DIALECTS) {
  describe(`API key scopes and expiry [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    let sw: TestSwitch;
    before(async () => {
      sw = await startTestSwitch(dialect);
    });
    after(async () => {
      await sw.close();
    });

    const toolWith = (key: string) => {
      const tool = new ApiClient(sw.httpUrl);
      tool.bearer = key;
      return tool;
    };

    test('a read-only key reads but may not write; the list shows each key’s scope and expiry', async () => {
      const api = await signUp(sw.httpUrl);
      const expiresAt = inAnHour();
      const ro = await api.post('/api-keys', { name: 'dashboard', scope: 'read-only', expiresAt });
      assert.equal(ro.status, 201, JSON.stringify(ro.body));
      assert.equal(ro.body.scope, 'read-only');
      assert.equal(ro.body.expiresAt, new Date(expiresAt).toISOString());
      const full = await api.post('/api-keys', { name: 'provisioning' });
      assert.equal(full.status, 201);
      assert.deepEqual([full.body.scope, full.body.expiresAt], ['full', null], 'full and without expiry unless asked');

      const listed = (await api.get('/api-keys')).body.items;
      assert.deepEqual(
        listed.map((k: { name: string; scope: string; expiresAt: string | null }) => [k.name, k.scope, k.expiresAt]),
        [
          ['dashboard', 'read-only', new Date(expiresAt).toISOString()],
          ['provisioning', 'full', null],
        ],
      );

      const reader = toolWith(ro.body.key);
      assert.equal((await reader.get('/sip-accounts')).status, 200);
      assert.equal((await reader.get('/registrations')).status, 200);
      assert.equal((await reader.request('HEAD', '/sip-accounts')).status, 200);
      const writes: Array<[string, string, unknown?]> = [
        ['POST', '/sip-accounts', { username: 'ro-attempt', password: 'Ferry-Lantern-Quartz-8' }],
        ['POST', '/api-keys', { name: 'escalate' }],
        ['DELETE', `/api-keys/${full.body.id}`],
        ['PATCH', '/settings', { internationalCalls: true }],
        ['PUT', '/dialplans/default', { source: 'export default async function () {}' }],
      ];
      for (const [method, path, body] of writes) {
        const r = await reader.request(method, path, body);
        assert.equal(r.status, 403, `${method} ${path}`);
        assert.match(r.body.error, /read-only/, `${method} ${path}`);
      }
      assert.deepEqual((await api.get('/sip-accounts')).body.items, [], 'nothing was created');
      assert.equal((await api.get('/api-keys')).body.items.length, 2, 'nothing was deleted or added');
      assert.equal((await api.get('/settings')).body.internationalCalls, false);

      const writer = toolWith(full.body.key);
      assert.equal((await writer.post('/sip-accounts', { username: `rw${Date.now().toString(36)}`, password: 'Ferry-Lantern-Quartz-8' })).status, 201);
    });

    test('an expired key is refused with 401 and a message that says it expired', async () => {
      const api = await signUp(sw.httpUrl);
      const k = await api.post('/api-keys', { name: 'short-lived', expiresAt: inAnHour() });
      const tool = toolWith(k.body.key);
      assert.equal((await tool.get('/sip-accounts')).status, 200);
      // The hour passes.
      const expiredAt = Date.now() - 1000;
      await sw.running.store.kysely.updateTable('api_keys').set({ expires_at: expiredAt }).where('id', '=', k.body.id).execute();
      const r = await tool.get('/sip-accounts');
      assert.equal(r.status, 401);
      assert.match(r.body.error, /expired/);
      assert.ok(r.body.error.includes(new Date(expiredAt).toISOString()), r.body.error);
      const forged = toolWith('sk_not-a-key');
      const unknown = await forged.get('/sip-accounts');
      assert.equal(unknown.status, 401);
      assert.doesNotMatch(unknown.body.error, /expired/, 'an unknown key is not said to have expired');
    });

    test('scope and expiry are validated', async () => {
      const api = await signUp(sw.httpUrl);
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ name: 'x', scope: 'admin' }, 'scope'],
        [{ name: 'x', expiresAt: new Date(Date.now() - 60_000).toISOString() }, 'expiresAt'],
        [{ name: 'x', expiresAt: 'tomorrow' }, 'expiresAt'],
      ];
      for (const [body, field] of cases) {
        const r = await api.post('/api-keys', body);
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.equal(r.body.field, field, JSON.stringify(r.body));
      }
      assert.equal((await api.post('/api-keys', { name: 'x', expiresAt: null })).status, 201);
    });
  });

  describe(`API keys made before scopes [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    test('keep working as full keys without expiry', async () => {
      const tdb = await createTestDatabase(dialect);
      try {
        const db = openDatabase(tdb.url);
        try {
          await migrateTo(db, '007_toll_fraud');
          const now = Date.now();
          await db.kysely
            .insertInto('tenants')
            .values({ id: 'old-tenant', name: 'old@x.test', time_zone: 'UTC', created_at: now } as never)
            .execute();
          await db.kysely
            .insertInto('api_keys')
            .values({
              id: 'old-key',
              tenant_id: 'old-tenant',
              name: 'legacy',
              token_hash: sha256Hex('sk_legacy'),
              prefix: 'sk_legacy',
              created_at: now,
              last_used_at: null,
            } as never)
            .execute();
          await migrateTo(db);
        } finally {
          await db.close();
        }
        const store = await Store.open(tdb.url);
        try {
          const found = await store.directory.principalForApiKey('sk_legacy');
          assert.ok(found && 'principal' in found, 'the old key still opens');
          assert.equal(found.principal.readOnly, false);
          assert.deepEqual(
            (await store.tenant('old-tenant').apiKeys.list()).map((k) => [k.name, k.scope, k.expiresAt]),
            [['legacy', 'full', null]],
          );
        } finally {
          await store.close();
        }
      } finally {
        await tdb.drop();
      }
    });
  });
}
