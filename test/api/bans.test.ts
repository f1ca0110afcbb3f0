/**
 * Who sees and lifts the switch's blocks (server/api/banRoutes.ts): an operator (a user whose
 * e-mail is in OPERATOR_EMAILS) sees every ban with its reason and expiry and lifts any; a tenant
 * sees the blocks that concern its own accounts and lifts only the (account, address) blocks of its
 * own accounts, never an address ban, which may protect other tenants.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApiClient, createSipAccount, signUp, STRONG_PASSWORD, uniqueEmail } from '../helpers/api.ts';
import { DIALECTS, skipUnless } from '../helpers/databases.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

interface BanView {
  id: string;
  kind: 'address' | 'account';
  address: string;
  username: string | null;
  usernames: string[];
  reason: string;
  since: string;
  until: string;
}

for (const dialect of DIALECTS) {
  describe(`bans in the API (${dialect})`, { skip: skipUnless(dialect) }, () => {
    let sw: TestSwitch;
    let operator: ApiClient;
    let victim: ApiClient;
    let attacker: ApiClient;
    let alice: { id: string; username: string; password: string };
    let mallory: { id: string; username: string; password: string };
    const reserved = uniqueEmail();

    before(async () => {
      sw = await startTestSwitch(dialect);
      const email = uniqueEmail();
      operator = new ApiClient(sw.httpUrl);
      assert.equal((await operator.post('/auth/signup', { email, password: STRONG_PASSWORD })).status, 201);
      // Listed after the operator signed up, as the README says; case does not matter.
      await sw.restart({ OPERATOR_EMAILS: `${email.toUpperCase()}, ${reserved}` });
      operator.baseUrl = sw.httpUrl;
      victim = await signUp(sw.httpUrl);
      attacker = await signUp(sw.httpUrl);
      victim.baseUrl = attacker.baseUrl = sw.httpUrl;
      alice = await createSipAccount(victim);
      mallory = await createSipAccount(attacker);
    });
    after(async () => {
      await sw?.close();
    });

    async function fail(from: string, user: string, times = 1): Promise<void> {
      const p = await TestPhone.open('udp', sw.sipPort, from);
      try {
        for (let i = 0; i < times; i++) assert.equal((await p.register({ user, password: 'wrong-wrong-1' })).final.status, 403);
      } finally {
        p.close();
      }
    }

    const answeredFrom = async (from: string) => {
      const p = await TestPhone.open('udp', sw.sipPort, from);
      try {
        const probe = p.build({ method: 'OPTIONS' });
        p.sendRaw(probe.text);
        return !(await p.quiet((r) => r.includes(probe.branch), 500));
      } finally {
        p.close();
      }
    };

    test('an address nobody has signed up with yet cannot be taken while it is listed as an operator', async () => {
      const r = await new ApiClient(sw.httpUrl).post('/auth/signup', { email: reserved, password: STRONG_PASSWORD });
      assert.equal(r.status, 403);
      assert.match(r.body.error, /operator/);
    });

    test('/me says who is an operator', async () => {
      assert.equal((await operator.get('/me')).body.operator, true);
      assert.equal((await victim.get('/me')).body.operator, false);
    });

    test('an operator sees every ban with reason and expiry; a tenant sees those of its accounts; lifting follows', async () => {
      // A scanner at .2 tries alice and four names nobody has; someone at .3 guesses alice's
      // password ten times; someone at .4 mallory's.
      for (const user of [alice.username, 'nobody1x', 'nobody2x', 'nobody3x', 'nobody4x']) await fail('127.0.0.2', user);
      await fail('127.0.0.3', alice.username, 10);
      await fail('127.0.0.4', mallory.username, 10);

      const all = await operator.get<{ items: BanView[] }>('/operator/bans');
      assert.equal(all.status, 200);
      const scanBan = all.body.items.find((b) => b.kind === 'address' && b.address === '127.0.0.2');
      const aliceBlock = all.body.items.find((b) => b.kind === 'account' && b.address === '127.0.0.3');
      const malloryBlock = all.body.items.find((b) => b.kind === 'account' && b.address === '127.0.0.4');
      assert.ok(scanBan && aliceBlock && malloryBlock, JSON.stringify(all.body));
      assert.deepEqual([...scanBan.usernames].sort(), [alice.username, 'nobody1x', 'nobody2x', 'nobody3x', 'nobody4x'].sort());
      assert.match(scanBan.reason, /5 usernames/);
      assert.equal(aliceBlock.username, alice.username);
      assert.match(aliceBlock.reason, /10 failed/);
      for (const b of [scanBan, aliceBlock]) {
        const left = Date.parse(b.until) - Date.now();
        assert.ok(left > 0 && left <= (b.kind === 'address' ? 3600_000 : 1800_000), `${b.kind} expires in ${left} ms`);
        assert.ok(Date.parse(b.since) <= Date.now());
      }

      // The victim tenant sees the ban its account was part of, with only its own username, and its block.
      const mine = await victim.get<{ items: BanView[] }>('/sip-blocks');
      assert.equal(mine.status, 200);
      assert.deepEqual(mine.body.items.map((b) => b.id).sort(), [scanBan.id, aliceBlock.id].sort());
      assert.deepEqual(mine.body.items.find((b) => b.id === scanBan.id)!.usernames, [alice.username]);
      // The other tenant sees only its own account's block.
      const theirs = await attacker.get<{ items: BanView[] }>('/sip-blocks');
      assert.deepEqual(
        theirs.body.items.map((b) => b.id),
        [malloryBlock.id],
      );

      // A tenant cannot lift what protects others, nor another tenant's block.
      assert.equal((await attacker.delete(`/sip-blocks/${scanBan.id}`)).status, 404);
      assert.equal((await attacker.delete(`/sip-blocks/${aliceBlock.id}`)).status, 404);
      const refused = await victim.delete(`/sip-blocks/${scanBan.id}`);
      assert.equal(refused.status, 403);
      assert.match(refused.body.error, /operator/);
      assert.equal(await answeredFrom('127.0.0.2'), false, 'still banned');

      // Its own account's block it can lift: alice registers from .3 again.
      assert.equal((await victim.delete(`/sip-blocks/${aliceBlock.id}`)).status, 204);
      const phone = await TestPhone.open('udp', sw.sipPort, '127.0.0.3');
      try {
        assert.equal((await phone.register({ user: alice.username, password: alice.password })).final.status, 200);
      } finally {
        phone.close();
      }

      // Tenants and API keys are not operators.
      assert.equal((await victim.get('/operator/bans')).status, 403);
      assert.equal((await attacker.delete(`/operator/bans/${scanBan.id}`)).status, 403);
      const key = await operator.post('/api-keys', { name: 'ops script' });
      const byKey = new ApiClient(sw.httpUrl);
      byKey.bearer = key.body.key;
      assert.equal((await byKey.get('/operator/bans')).status, 403);

      // The operator lifts the address ban.
      assert.equal((await operator.delete(`/operator/bans/${scanBan.id}`)).status, 204);
      assert.equal((await operator.delete(`/operator/bans/${scanBan.id}`)).status, 404);
      assert.ok(await answeredFrom('127.0.0.2'));
      const left = await operator.get<{ items: BanView[] }>('/operator/bans');
      assert.deepEqual(
        left.body.items.map((b) => b.id),
        [malloryBlock.id],
      );
    });
  });
}
