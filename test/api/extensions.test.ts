/** Phones numbered 100, 101, …: handed out in order per tenant, chosen, changed, removed, never shared within a tenant. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSipAccount, signUp } from '../helpers/api.ts';
import { DIALECTS, skipUnless } from '../helpers/databases.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

for (const dialect of DIALECTS) {
  describe(`extensions [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    let sw: TestSwitch;
    before(async () => {
      sw = await startTestSwitch(dialect);
    });
    after(async () => {
      await sw.close();
    });

    test('new phones get the next free number from 100; each tenant counts on its own', async () => {
      const a = await signUp(sw.httpUrl);
      const b = await signUp(sw.httpUrl);
      const first = await createSipAccount(a);
      const second = await createSipAccount(a);
      const chosen = await createSipAccount(a, { extension: '105' });
      const none = await createSipAccount(a, { extension: null });
      const third = await createSipAccount(a);
      const other = await createSipAccount(b);
      const ext = async (api: typeof a, id: string) => (await api.get(`/sip-accounts/${id}`)).body.extension;
      assert.deepEqual(await Promise.all([first, second, chosen, none, third].map((p) => ext(a, p.id))), ['100', '101', '105', null, '102']);
      assert.equal(await ext(b, other.id), '100', 'another tenant has its own 100');
      // Freed numbers are handed out again.
      assert.equal((await a.delete(`/sip-accounts/${second.id}`)).status, 204);
      assert.equal(await ext(a, (await createSipAccount(a)).id), '101');
    });

    test('a taken or malformed number is refused on the field; a number can be changed and removed', async () => {
      const api = await signUp(sw.httpUrl);
      const x = await createSipAccount(api);
      const y = await createSipAccount(api);
      const taken = await api.patch(`/sip-accounts/${y.id}`, { extension: '100' });
      assert.equal(taken.status, 409);
      assert.equal(taken.body.field, 'extension');
      const dup = await api.post('/sip-accounts', { username: `dup${Date.now()}`, password: 'Quartz-Meadow-Lantern-42', extension: '101' });
      assert.equal(dup.status, 409);
      assert.equal(dup.body.field, 'extension');
      for (const extension of ['0100', '7', '1234567', 'abc', '+100']) {
        const r = await api.patch(`/sip-accounts/${x.id}`, { extension });
        assert.equal(r.status, 400, extension);
        assert.equal(r.body.field, 'extension');
      }
      assert.equal((await api.patch(`/sip-accounts/${x.id}`, { extension: '2000' })).body.extension, '2000');
      assert.equal((await api.patch(`/sip-accounts/${y.id}`, { extension: '100' })).body.extension, '100', 'the old number is free');
      assert.equal((await api.patch(`/sip-accounts/${x.id}`, { extension: null })).body.extension, null);
    });

    test('phones created at the same moment get distinct numbers', async () => {
      const api = await signUp(sw.httpUrl);
      // Thirty at once (a script, a burst of first registrations): each gets a number, with no gaps.
      const made = await Promise.all(Array.from({ length: 30 }, () => createSipAccount(api)));
      const numbers = await Promise.all(made.map(async (m) => (await api.get(`/sip-accounts/${m.id}`)).body.extension as string));
      assert.deepEqual(
        [...numbers].sort(),
        Array.from({ length: 30 }, (_, i) => String(100 + i)),
      );
    });
  });
}
