/**
 * Two real phones: baresip registered to two accounts of one tenant; alice calls bob through the
 * tenant's `default` dialplan (which dials the called account), bob's baresip answers by itself
 * (answermode=auto), alice hangs up. The call is answered and hung up cleanly on both phones, the
 * events are in order, and its record appears in GET /api/v1/cdrs.
 *
 * The phones are baresip driven over its ctrl_tcp module (../helpers/baresipPhone.ts), headless,
 * carrying no audio of their own.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { elapse } from '../helpers/time.ts';
import { startPhone, type Phone } from '../helpers/baresipPhone.ts';
import { skipWithout, waitFor } from '../interop/tools.ts';
import { assertBetween, dialplanSource, EventLog, newTenant, recordOf } from './harness.ts';

const noBaresip = skipWithout('baresip', 'baresip');

describe('two baresip phones call each other (sqlite)', { skip: noBaresip, timeout: 60_000 }, () => {
  let sw: TestSwitch;
  const dir = mkdtempSync(path.join(tmpdir(), 'sipswitch-baresip-call-'));
  const phones: Phone[] = [];
  let log: EventLog | undefined;

  before(async () => {
    sw = await startTestSwitch('sqlite');
  });
  after(async () => {
    await Promise.all(
      phones.map(async (p) => {
        p.close();
        await p.stop();
      }),
    );
    log?.stop();
    await sw?.close();
    if (!process.env.KEEP_TRACES) rmSync(dir, { recursive: true, force: true });
  });

  test('alice dials bob through the default dialplan; bob auto-answers; alice hangs up; the record is listed', async () => {
    const t = await newTenant(sw);
    log = new EventLog(sw, t.id);
    const alice = await t.account();
    const bob = await t.account();
    await t.dialplan('default', dialplanSource(`  log('call ' + call.from.user + ' -> ' + call.to.user);\n  await dial(call.to.user, { timeout: 15 });`));

    const a = await startPhone(dir, 'alice', alice, { answer: 'manual', outboundPort: sw.sipPort });
    phones.push(a);
    const b = await startPhone(dir, 'bob', bob, { answer: 'auto', outboundPort: sw.sipPort });
    phones.push(b);
    const registered = async (username: string) => {
      const r = await t.api.get('/registrations');
      return (r.body.items as Array<{ username: string }>).some((x) => x.username === username) ? true : undefined;
    };
    await waitFor('both phones registered', 15_000, async () => ((await registered(alice.username)) && (await registered(bob.username))) || undefined);

    const dialled = await a.command('dial', `sip:${bob.username}@127.0.0.1`);
    assert.ok(dialled.ok, `dial accepted: ${JSON.stringify(dialled)}\n${a.output().slice(-3000)}`);
    const upOn = (p: Phone) => waitFor(`${p.name}: call established`, 15_000, async () => (p.events.some((e) => e.type === 'CALL_ESTABLISHED') ? true : undefined));
    await Promise.all([upOn(a), upOn(b)]).catch((err: Error) => {
      throw new Error(`${err.message}\nswitch events:\n${log!.summary().join('\n')}\nalice:\n${a.output().slice(-3000)}\nbob:\n${b.output().slice(-3000)}`);
    });
    // Talk for a second (the record's talk time is checked below).
    await elapse(1000);
    const hung = await a.command('hangup');
    assert.ok(hung.ok, `hangup accepted: ${JSON.stringify(hung)}`);
    const closedOn = (p: Phone) => waitFor(`${p.name}: call closed`, 10_000, async () => (p.events.some((e) => e.type === 'CALL_CLOSED') ? true : undefined));
    await Promise.all([closedOn(a), closedOn(b)]);

    await log.ended();
    log.assertWellFormed();
    assert.deepEqual(log.lifeOf('A'), ['created', 'ringing', 'up', 'hungup normal caller']);
    assert.deepEqual(log.lifeOf('B'), ['created', 'ringing', 'up', 'hungup normal caller']);
    log.assertInOrder([
      'channel.created A',
      'dialplan.started default',
      'channel.created B',
      'channel.state A up',
      'bridge.created',
      'channel.hungup A normal caller',
      'channel.hungup B normal caller',
      'call.ended',
    ]);
    // Each phone saw the other party, and the call end it should: alice hung up, bob got a BYE.
    assert.equal(a.events.find((e) => e.type === 'CALL_ESTABLISHED')?.param, `sip:${bob.username}@127.0.0.1`);
    assert.equal(b.events.find((e) => e.type === 'CALL_ESTABLISHED')?.param, `sip:${alice.username}@127.0.0.1`, 'bob sees alice as the caller');
    assert.equal(a.events.find((e) => e.type === 'CALL_CLOSED')?.param, 'Connection reset by user');
    assert.equal(b.events.find((e) => e.type === 'CALL_CLOSED')?.param, 'Connection reset by peer');

    const cdr = await recordOf(sw, t, log.events[0]!.callId);
    assert.equal(cdr.status, 'answered');
    assert.equal(cdr.sipStatus, 200);
    assert.equal(cdr.direction, 'local');
    assert.equal(cdr.caller, alice.username);
    assert.equal(cdr.callee, bob.username);
    assert.equal(cdr.hangupCause, 'normal');
    assert.equal(cdr.hangupBy, 'caller');
    assert.equal(cdr.legs.length, 2);
    assertBetween('talkMs', cdr.talkMs, 800, 10_000);

    // Both phones stay registered and idle: nothing was left hanging.
    for (const p of [a, b]) {
      const list = await p.command('listcalls');
      assert.ok(list.ok);
      assert.doesNotMatch(list.data ?? '', /ESTABLISHED|RINGING/, `${p.name} has no call left: ${list.data}`);
    }
  });
});
