/** The tenant's registrations listing is keyset-paged like call records, on both dialects. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { computeHa1 } from '../../server/sip/digest.ts';
import { InvalidCursorError } from '../../server/store/cdrs.ts';
import { newId } from '../../server/store/ids.ts';
import { Store } from '../../server/store/index.ts';
import { bindingRow, insertBindings } from '../helpers/bindings.ts';
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
  describe(`registrations listing [${dialect}]`, { skip: skipUnless(dialect) }, () => {
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

    async function tenantWithBindings(accounts: number, perAccount: number) {
      const { tenantId } = await store.directory.createTenantWithOwner(`r-${newId()}@x.test`, 'h');
      const scope = store.tenant(tenantId);
      const ids: string[] = [];
      for (let i = 0; i < accounts; i++) ids.push((await scope.sipAccounts.create(account(`p${newId().slice(-12)}`))).id);
      const rows = ids.flatMap((id, a) => Array.from({ length: perAccount }, (_, n) => bindingRow(tenantId, id, { n: a * perAccount + n })));
      await insertBindings(store.kysely, rows);
      return { tenantId, scope, ids, rows };
    }

    test('pages walk every live binding once, in account order, without repeats or gaps', async () => {
      const { scope, ids, rows, tenantId } = await tenantWithBindings(40, 3);
      const now = Date.now();
      // Expired ones and another tenant's are never listed.
      await insertBindings(store.kysely, [bindingRow(tenantId, ids[0]!, { expiresAt: now - 1 })]);
      const other = await tenantWithBindings(2, 1);
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await scope.registrations.page(now, { limit: 7, ...(cursor ? { cursor } : {}) });
        assert.ok(page.items.length <= 7);
        seen.push(...page.items.map((b) => b.id));
        cursor = page.nextCursor ?? undefined;
        pages++;
        // Phones registering meanwhile, anywhere in the order, do not disturb the walk.
        if (pages === 3) await insertBindings(store.kysely, [bindingRow(tenantId, ids[39]!, { n: 999 })]);
      } while (cursor);
      const expected = [...rows.map((r) => ({ a: r.account_id, id: r.id }))].sort((x, y) => (x.a === y.a ? (x.id < y.id ? -1 : 1) : x.a < y.a ? -1 : 1)).map((r) => r.id);
      assert.deepEqual(
        seen.filter((id) => rows.some((r) => r.id === id)),
        expected,
      );
      assert.equal(new Set(seen).size, seen.length, 'no binding twice');
      assert.equal(seen.length, 121, 'the one registered during the walk is seen too (it sorts after the cursor)');
      assert.ok(!seen.some((id) => other.rows.some((r) => r.id === id)));
      assert.equal(pages, Math.ceil(121 / 7));
    });

    test('filtered by one or several accounts; summary counts enabled accounts with live bindings', async () => {
      const { scope, ids } = await tenantWithBindings(5, 2);
      const now = Date.now();
      const one = await scope.registrations.page(now, { limit: 100, accountIds: [ids[2]!] });
      assert.deepEqual([...new Set(one.items.map((b) => b.accountId))], [ids[2]]);
      assert.equal(one.items.length, 2);
      assert.equal(one.nextCursor, null);
      const two = await scope.registrations.page(now, { limit: 3, accountIds: [ids[4]!, ids[1]!] });
      assert.deepEqual(
        two.items.map((b) => b.accountId),
        [ids[1], ids[1], ids[4]],
      );
      const rest = await scope.registrations.page(now, { limit: 3, accountIds: [ids[4]!, ids[1]!], cursor: two.nextCursor! });
      assert.deepEqual(
        rest.items.map((b) => b.accountId),
        [ids[4]],
      );
      assert.equal(rest.nextCursor, null);
      assert.ok(one.items.every((b) => typeof b.username === 'string' && b.username.startsWith('p')));

      assert.deepEqual(await scope.registrations.summary(now), { bindings: 10, registeredAccounts: 5 });
      await scope.sipAccounts.update(ids[0]!, { enabled: false });
      assert.deepEqual(await scope.registrations.summary(now), { bindings: 8, registeredAccounts: 4 });
    });

    test('a cursor this API did not make is refused', async () => {
      const { scope } = await tenantWithBindings(1, 1);
      for (const bad of ['nonsense', Buffer.from('[1,2]').toString('base64url'), Buffer.from(JSON.stringify(['x'.repeat(40), 'y'])).toString('base64url')]) {
        await assert.rejects(scope.registrations.page(Date.now(), { limit: 10, cursor: bad }), InvalidCursorError);
      }
    });
  });
}
