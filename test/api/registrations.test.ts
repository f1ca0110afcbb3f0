/**
 * `GET /registrations` pages like `/cdrs` (keyset cursor, `limit`): at 10,000 bindings it used to
 * answer every one in one response (4.3 MB). `?accountId=` keeps working, for one or several accounts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSipAccount, signUp, type ApiClient } from '../helpers/api.ts';
import { bindingRow, insertBindings } from '../helpers/bindings.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

describe('registrations listing', () => {
  let sw: TestSwitch;
  let api: ApiClient;
  let tenantId: string;
  const accounts: Array<{ id: string; username: string; password: string }> = [];
  before(async () => {
    sw = await startTestSwitch('sqlite');
    api = await signUp(sw.httpUrl);
    tenantId = (await api.get('/me')).body.tenant.id;
    for (let i = 0; i < 4; i++) accounts.push(await createSipAccount(api));
  });
  after(async () => {
    await sw.close();
  });

  test('10,000 bindings come a page at a time; walking the cursor sees each once', async () => {
    // 2,500 bindings on each of four accounts (the registrar would cap an account at a few; the table does not).
    await insertBindings(
      sw.running.store.kysely,
      accounts.flatMap((a, i) => Array.from({ length: 2500 }, (_, n) => bindingRow(tenantId, a.id, { n: i * 2500 + n }))),
    );
    const first = await api.get('/registrations');
    assert.equal(first.status, 200);
    assert.equal(first.body.items.length, 100, 'a default page');
    assert.equal(typeof first.body.nextCursor, 'string');
    assert.ok(JSON.stringify(first.body).length < 100_000, `a page is small (${JSON.stringify(first.body).length} bytes)`);

    const seen = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r: { status: number; body: { items: Array<{ id: string; accountId: string }>; nextCursor: string | null } } = await api.get(
        `/registrations?limit=500${cursor ? `&cursor=${cursor}` : ''}`,
      );
      assert.equal(r.status, 200);
      assert.ok(r.body.items.length <= 500);
      for (const b of r.body.items) seen.add(b.id);
      cursor = r.body.nextCursor;
      pages++;
    } while (cursor);
    assert.equal(seen.size, 10_000);
    assert.equal(pages, 20);
    assert.deepEqual((await api.get('/registrations/summary')).body, { bindings: 10_000, registeredAccounts: 4 });
  });

  test('?accountId= filters to one account, or several; a real REGISTER shows up with its details', async () => {
    const fresh = await createSipAccount(api);
    const phone = await TestPhone.open('udp', sw.sipPort);
    try {
      assert.equal((await phone.register({ user: fresh.username, password: fresh.password })).final.status, 200);
    } finally {
      phone.close();
    }
    const one = await api.get(`/registrations?accountId=${fresh.id}`);
    assert.equal(one.status, 200);
    assert.equal(one.body.items.length, 1);
    assert.equal(one.body.nextCursor, null);
    const b = one.body.items[0];
    assert.deepEqual([b.accountId, b.username, b.source.address, b.source.transport], [fresh.id, fresh.username, '127.0.0.1', 'udp']);
    assert.ok(b.expiresIn > 0);

    const several = await api.get(`/registrations?accountId=${fresh.id}&accountId=${accounts[1]!.id}&limit=3`);
    assert.equal(several.status, 200);
    assert.deepEqual(
      several.body.items.map((x: { accountId: string }) => x.accountId),
      [accounts[1]!.id, accounts[1]!.id, accounts[1]!.id],
    );
    let cursor = several.body.nextCursor;
    const ids = new Set<string>();
    while (cursor) {
      const r = await api.get(`/registrations?accountId=${fresh.id}&accountId=${accounts[1]!.id}&limit=500&cursor=${cursor}`);
      for (const x of r.body.items) ids.add(x.accountId);
      cursor = r.body.nextCursor;
    }
    assert.ok(ids.has(fresh.id), 'the filtered walk reaches the second account');
    assert.deepEqual((await (await signUp(sw.httpUrl)).get(`/registrations?accountId=${fresh.id}`)).body.items, [], "another tenant's account lists nothing");
  });

  test('bad paging parameters are 400s naming the field', async () => {
    for (const [q, field] of [
      ['limit=0', 'limit'],
      ['limit=501', 'limit'],
      ['cursor=not-ours', 'cursor'],
      ['sort=username', ''],
    ] as const) {
      const r = await api.get(`/registrations?${q}`);
      assert.equal(r.status, 400, q);
      if (field) assert.equal(r.body.field, field, q);
    }
    const tooMany = Array.from({ length: 101 }, (_, i) => `accountId=a${i}`).join('&');
    assert.equal((await api.get(`/registrations?${tooMany}`)).status, 400);
  });
});
