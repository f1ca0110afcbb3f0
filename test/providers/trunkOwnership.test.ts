/**
 * Issue 13, "Inbound trunk calls belong to the tenant that owns them": a call from a provider is
 * recognised by something one tenant provably holds (its entry's line token, a number only it
 * holds, or one of its accounts), and source addresses only narrow that. A tenant that lists a
 * shared carrier's addresses — or every address — gets none of another tenant's calls; claims that
 * are too broad or already held are refused when saved; a call that still names two tenants is
 * rejected and logged, never guessed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { autoAnswer, invite } from '../helpers/sipDialog.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { dialplanSource, EventLog, newTenant, type Tenant } from '../calls/harness.ts';
import { waitFor } from '../interop/tools.ts';

const DID = '4930555123';

describe('inbound trunk calls belong to the tenant that owns them (sqlite)', () => {
  let sw: TestSwitch;
  const logLines: string[] = [];
  const cleanup: Array<() => void> = [];
  before(async () => {
    sw = await startTestSwitch('sqlite', { logLines });
  });
  after(async () => {
    for (const c of cleanup) c();
    await sw.close();
  });

  async function provider(t: Tenant, body: Record<string, unknown>) {
    return t.api.post('/providers', { name: 'carrier', host: '127.0.0.1', port: 5070, ...body });
  }

  /** A tenant whose phone (registered, answering) is rung by the dialplan `from-carrier`. */
  async function tenantWithPhone(party: string) {
    const t = await newTenant(sw);
    const log = new EventLog(sw, t.id);
    const account = await t.account();
    const phone = await TestPhone.open('udp', sw.sipPort);
    const answering = autoAnswer(phone, party);
    cleanup.push(() => {
      answering.stop();
      phone.close();
      log.stop();
    });
    assert.equal((await phone.register({ user: account.username, password: account.password })).final.status, 200);
    await t.dialplan('from-carrier', dialplanSource(`  log('${party} got ' + call.to.user);\n  await dial('${account.username}', { timeout: 5 });`));
    return { t, log, account, phone, answering };
  }

  test('source ranges wider than a /16 (IPv4) or a /48 (IPv6) are refused when saved, saying why', async () => {
    const t = await newTenant(sw);
    for (const range of ['0.0.0.0/0', '10.0.0.0/8', '172.16.0.0/15', '::/0', '2001:db8::/32']) {
      const r = await provider(t, { sourceAddresses: [range] });
      assert.equal(r.status, 400, `${range}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.field, 'sourceAddresses.0');
      assert.match(r.body.error, /too broad/);
    }
    const ok = await provider(t, { sourceAddresses: ['203.0.113.0/24', '198.51.100.0/16', '2001:db8:1::/48', '127.0.0.1'] });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    const wider = await t.api.patch(`/providers/${ok.body.id}`, { sourceAddresses: ['0.0.0.0/1'] });
    assert.equal(wider.status, 400, 'an update is checked the same way');
  });

  test("a tenant listing a shared carrier's address takes no call for a number another tenant holds", async () => {
    const victim = await tenantWithPhone('victim');
    const held = await provider(victim.t, { sourceAddresses: ['127.0.0.1'], numbers: [`+${DID}`], dialplan: 'from-carrier' });
    assert.equal(held.status, 201, JSON.stringify(held.body));
    assert.deepEqual(held.body.numbers, [DID], 'numbers are kept as digits');

    // The attacker lists the same carrier address (a legitimate shared carrier), without numbers.
    const attacker = await tenantWithPhone('attacker');
    assert.equal((await provider(attacker.t, { sourceAddresses: ['127.0.0.1'], dialplan: 'from-carrier' })).status, 201);

    const carrier = await TestPhone.open('udp', sw.sipPort);
    try {
      const final = await invite(carrier, { uri: `sip:${DID}@127.0.0.1:${sw.sipPort}`, to: `sip:${DID}@carrier.example`, from: 'sip:4915100000@carrier.example' });
      assert.match(final, /^SIP\/2\.0 200 /, 'the number holder answered');
    } finally {
      carrier.close();
    }
    assert.equal(victim.answering.invites.length, 1, "the number holder's phone rang");
    await waitFor('the victim dialplan log', 3000, async () => (victim.log.summary().includes(`dialplan.log victim got ${DID}`) ? true : undefined));
    assert.equal(attacker.answering.invites.length, 0, "the other tenant's phone never rang");
    assert.deepEqual(attacker.log.events, [], 'no event of the call reached the other tenant');
  });

  test('a number one tenant holds cannot be claimed by another, on create or update; numbers are checked for form', async () => {
    const first = await newTenant(sw);
    const number = '4940777000';
    assert.equal((await provider(first, { numbers: [number] })).status, 201);
    const second = await newTenant(sw);
    const taken = await provider(second, { name: 'other', numbers: [`+${number}`] });
    assert.equal(taken.status, 409, JSON.stringify(taken.body));
    assert.equal(taken.body.field, 'numbers');
    assert.match(taken.body.error, new RegExp(`${number} is already held`));
    const own = await provider(second, { name: 'other', numbers: ['+49 (40) 777-001'] });
    assert.equal(own.status, 201, 'another number is fine');
    assert.deepEqual(own.body.numbers, ['4940777001']);
    const clash = await second.api.patch(`/providers/${own.body.id}`, { numbers: ['4940777001', number] });
    assert.equal(clash.status, 409, 'an update is checked the same way');
    assert.deepEqual((await second.api.get(`/providers/${own.body.id}`)).body.numbers, ['4940777001'], 'a refused update changes nothing');
    for (const bad of ['12345', 'abc', '+49 30 1234 5678 9999 9999']) {
      const r = await provider(second, { name: 'fourth', numbers: [bad] });
      assert.equal(r.status, 400, `${bad}: ${JSON.stringify(r.body)}`);
    }
    assert.equal((await first.api.delete(`/providers/${(await first.api.get('/providers')).body.items[0].id}`)).status, 204);
    assert.equal((await second.api.patch(`/providers/${own.body.id}`, { numbers: [number] })).status, 200, 'a deleted entry gives its numbers up');
  });

  test("a call naming one tenant's account and another tenant's number is rejected and logged, not guessed", async () => {
    const owner = await tenantWithPhone('owner');
    const claimant = await tenantWithPhone('claimant');
    const number = '4930666777';
    assert.equal((await provider(claimant.t, { sourceAddresses: ['127.0.0.1'], numbers: [number], dialplan: 'from-carrier' })).status, 201);

    const carrier = await TestPhone.open('udp', sw.sipPort);
    try {
      const final = await invite(carrier, { uri: `sip:${owner.account.username}@127.0.0.1:${sw.sipPort}`, to: `sip:${number}@carrier.example` });
      assert.match(final, /^SIP\/2\.0 403 /);
    } finally {
      carrier.close();
    }
    assert.equal(owner.answering.invites.length + claimant.answering.invites.length, 0, 'no phone rang');
    assert.deepEqual([...owner.log.events, ...claimant.log.events], [], 'neither tenant started a call');
    const line = logLines.map((l) => JSON.parse(l)).find((l) => /matches more than one tenant/.test(l.msg));
    assert.ok(line, 'the refusal is logged');
    assert.deepEqual(new Set(line.tenants), new Set([owner.t.id, claimant.t.id]));
  });
});

describe('a tenant alone in claiming an address (sqlite)', () => {
  let sw: TestSwitch;
  before(async () => {
    sw = await startTestSwitch('sqlite');
  });
  after(async () => {
    await sw.close();
  });

  test('takes no stranger call for a number it does not hold', async () => {
    const greedy = await newTenant(sw);
    const log = new EventLog(sw, greedy.id);
    const account = await greedy.account();
    const phone = await TestPhone.open('udp', sw.sipPort);
    const answering = autoAnswer(phone, 'greedy');
    try {
      assert.equal((await phone.register({ user: account.username, password: account.password })).final.status, 200);
      await greedy.dialplan('grab', dialplanSource(`  await dial('${account.username}', { timeout: 5 });`));
      const r = await greedy.api.post('/providers', { name: 'carrier', host: '127.0.0.1', port: 5070, sourceAddresses: ['127.0.0.0/16'], dialplan: 'grab' });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const caller = await TestPhone.open('udp', sw.sipPort);
      try {
        const final = await invite(caller, { uri: `sip:4930999888@127.0.0.1:${sw.sipPort}` });
        assert.doesNotMatch(final, /^SIP\/2\.0 200 /);
      } finally {
        caller.close();
      }
      assert.equal(answering.invites.length, 0, 'its phone never rang');
      assert.deepEqual(log.events, [], 'the call was not taken for the tenant listing the address');
    } finally {
      answering.stop();
      phone.close();
      log.stop();
    }
  });
});
