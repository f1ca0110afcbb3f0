/**
 * Issue 13, "Remote transfer requests obey the tenant's policy": a REFER is refused unless the
 * tenant allowed transfers for that call (its dialplan's `transfer` dial option: the default
 * stored at sign-up, like a call routed without a dialplan, lets the tenant's own phones transfer),
 * and the transfer target then goes
 * through the same admission and routing as a call the tenant places: its dialplan decides, with
 * the international guard, the deny list and the call limits. Phones are played by hand so every
 * request is seen.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { answering, autoAnswer, body, inDialog, isRequest, place, placeAuthenticated, type Leg } from '../helpers/sipDialog.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { dialplanSource, EventLog, newTenant } from './harness.ts';

/** Waits until `inbox` holds a final NOTIFY (its sipfrag's status line), or fails. */
async function finalNotify(inbox: { notifies: string[] }): Promise<string> {
  const deadline = Date.now() + 8000;
  for (;;) {
    const last = inbox.notifies.map((n) => body(n).split('\r\n')[0]!).find((s) => !/^SIP\/2\.0 1\d\d/.test(s));
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`no final NOTIFY; got ${JSON.stringify(inbox.notifies.map((n) => body(n)))}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const referTo = (uri: string) => [`Refer-To: <${uri}>`, 'Referred-By: <sip:someone@127.0.0.1>'];

describe('transfers obey the tenant’s policy (sqlite)', () => {
  let sw: TestSwitch;
  const phones: Array<{ close(): void }> = [];
  before(async () => {
    sw = await startTestSwitch('sqlite');
  });
  after(async () => {
    for (const p of phones) p.close();
    await sw.close();
  });

  async function phone(): Promise<TestPhone> {
    const p = await TestPhone.open('udp', sw.sipPort);
    phones.push(p);
    return p;
  }

  /** A registered phone of `account` that answers every call. */
  async function answeringPhone(account: { username: string; password: string }, party: string) {
    const p = await phone();
    const a = autoAnswer(p, party);
    phones.push({ close: a.stop });
    assert.equal((await p.register({ user: account.username, password: account.password })).final.status, 200);
    return a;
  }

  test("a stranger's REFER on a call routed without a dialplan is refused, and its target never rings", async () => {
    const t = await newTenant(sw);
    const alice = await t.account();
    await answeringPhone(alice, 'alice');
    const target = await phone();
    const targetAnswers = autoAnswer(target, 'target');
    phones.push({ close: targetAnswers.stop });

    const a = await phone();
    const call: Leg = await place(a, sw.sipPort, alice.username);
    const refused = await inDialog(a, call, 'REFER', referTo(`sip:target@127.0.0.1:${target.localPort}`));
    assert.match(refused, /^SIP\/2\.0 403 /);
    assert.ok(await target.quiet(isRequest('INVITE'), 800), 'the target was never invited');
    assert.match(await inDialog(a, call, 'BYE'), /^SIP\/2\.0 200 /);
  });

  test("the tenant's own phone may transfer under the default dialplan of sign-up, to the tenant's accounts only", async () => {
    const t = await newTenant(sw);
    const log = new EventLog(sw, t.id);
    const [alice, bob, carol] = [await t.account(), await t.account(), await t.account()];
    await answeringPhone(bob, 'bob');
    const carolPhone = await answeringPhone(carol, 'carol');
    const target = await phone();
    const targetAnswers = autoAnswer(target, 'target');
    phones.push({ close: targetAnswers.stop });

    const a = await phone();
    const inbox = answering(a);
    phones.push({ close: inbox.stop });
    const call = await placeAuthenticated(a, sw.sipPort, alice, bob.username);
    assert.match(await inDialog(a, call, 'REFER', referTo(`sip:target@127.0.0.1:${target.localPort}`)), /^SIP\/2\.0 202 /);
    assert.match(await finalNotify(inbox), /^SIP\/2\.0 404 /, 'a SIP URI is not one of the tenant’s accounts');
    assert.ok(await target.quiet(isRequest('INVITE'), 500), 'the URI target was never invited');

    inbox.notifies.length = 0;
    assert.match(await inDialog(a, call, 'REFER', referTo(`sip:${carol.username}@127.0.0.1`)), /^SIP\/2\.0 202 /);
    assert.match(await finalNotify(inbox), /^SIP\/2\.0 200 /);
    assert.equal(carolPhone.invites.length, 1, "the colleague's phone rang");
    await inDialog(a, call, 'BYE');
    log.stop();
  });

  test('a dialplan that allows transfers routes the far end’s REFER itself: the international guard refuses abroad, a home number reaches the provider', async () => {
    const t = await newTenant(sw);
    const log = new EventLog(sw, t.id);
    const alice = await t.account();
    await answeringPhone(alice, 'alice');
    const carrier = await phone();
    const carrierAnswers = autoAnswer(carrier, 'carrier');
    phones.push({ close: carrierAnswers.stop });
    assert.equal((await t.api.post('/providers', { name: 'trunk', host: '127.0.0.1', port: carrier.localPort })).status, 201);
    await t.dialplan('inbound', dialplanSource(`  await dial('${alice.username}', { timeout: 10, transfer: true });`));
    // Transfers run the tenant's dialplan as a call it places: here, numbers go out through the trunk.
    await t.dialplan(
      'default',
      dialplanSource(`  log('transfer by ' + call.transfer.transferer + ' to ' + call.to.user);\n  await dial(call.to.user + '@trunk', { timeout: 5 });`),
    );
    assert.equal((await t.api.patch(`/sip-accounts/${alice.id}`, { dialplanIn: 'inbound' })).status, 200);

    const a = await phone();
    const inbox = answering(a);
    phones.push({ close: inbox.stop });
    const call = await place(a, sw.sipPort, alice.username);

    assert.match(await inDialog(a, call, 'REFER', referTo('sip:0044201234567@127.0.0.1')), /^SIP\/2\.0 202 /);
    assert.match(await finalNotify(inbox), /^SIP\/2\.0 403 /, 'calls abroad are off for the tenant');
    assert.ok(await carrier.quiet(isRequest('INVITE'), 500), 'nothing reached the provider');
    assert.ok(
      log.summary().some((l) => /^dialplan\.log transfer by \S+ to 0044201234567$/.test(l)),
      log.summary().join('\n'),
    );
    assert.ok(
      log.summary().some((l) => /international calls are off|abroad/.test(l)),
      `the refusal is in the call's log:\n${log.summary().join('\n')}`,
    );

    inbox.notifies.length = 0;
    assert.match(await inDialog(a, call, 'REFER', referTo('sip:030123456@127.0.0.1')), /^SIP\/2\.0 202 /);
    assert.match(await finalNotify(inbox), /^SIP\/2\.0 200 /);
    assert.equal(carrierAnswers.invites.length, 1);
    assert.match(carrierAnswers.invites[0]!.split('\r\n')[0]!, /^INVITE sip:030123456@127\.0\.0\.1/);
    await inDialog(a, call, 'BYE');
    log.stop();
  });
});

describe('transfers count against the tenant’s call limits (sqlite)', () => {
  let sw: TestSwitch;
  const phones: Array<{ close(): void }> = [];
  before(async () => {
    sw = await startTestSwitch('sqlite', { env: { CALLS_PER_MINUTE_PER_TENANT: '2' } });
  });
  after(async () => {
    for (const p of phones) p.close();
    await sw.close();
  });

  test('a REFER when the tenant has used up its calls per minute is refused with 503 and Retry-After', async () => {
    const t = await newTenant(sw);
    const [alice, bob, carol] = [await t.account(), await t.account(), await t.account()];
    for (const [acc, party] of [
      [bob, 'bob'],
      [carol, 'carol'],
    ] as const) {
      const p = await TestPhone.open('udp', sw.sipPort);
      const a = autoAnswer(p, party);
      phones.push(p, { close: a.stop });
      assert.equal((await p.register({ user: acc.username, password: acc.password })).final.status, 200);
    }
    const a = await TestPhone.open('udp', sw.sipPort);
    const inbox = answering(a);
    phones.push(a, { close: inbox.stop });
    const call = await placeAuthenticated(a, sw.sipPort, alice, bob.username);
    // The second call of the minute: placed (it fails, nobody of that name), so it counts.
    assert.match(await inDialog(a, call, 'REFER', referTo('sip:nobody@127.0.0.1')), /^SIP\/2\.0 202 /);
    assert.match(await finalNotify(inbox), /^SIP\/2\.0 404 /);
    const refused = await inDialog(a, call, 'REFER', referTo(`sip:${carol.username}@127.0.0.1`));
    assert.match(refused, /^SIP\/2\.0 503 /);
    assert.match(refused, /^Retry-After: \d+/im);
    await inDialog(a, call, 'BYE');
  });
});
