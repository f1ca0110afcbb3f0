/**
 * Answered calls through the switch, caller sipp → switch → callee sipp, hung up by each side.
 * Each test checks what the sipp peers saw, the call's events in order with stable channel ids,
 * and the call record from GET /cdrs.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { skipWithout } from '../interop/tools.ts';
import { assertBetween, assertSippOk, authRow, bodyOf, callSuite, dialplanSource, flowOf, recordOf, scenario, startSipp } from './harness.ts';

const noSipp = skipWithout('sipp', 'sip-tester');

describe('answered calls (sqlite)', { skip: noSipp, timeout: 60_000 }, () => {
  const suite = callSuite();
  const uasFor = suite.uas;

  test('an account calls a colleague through the default dialplan (407 first); the caller hangs up', async () => {
    const { t, log } = await suite.tenantWithLog();
    const alice = await t.account();
    const bob = await t.account();
    await t.dialplan('default', dialplanSource(`  const r = await dial(call.to.user, { timeout: 10 });\n  log('dialled ' + r.result);`));

    const callee = await uasFor(bob, 'uas_answer.xml', { party: 'bob' });
    const caller = await startSipp({
      dir: suite.dir,
      name: 'caller',
      scenario: scenario('uac_auth_call.xml'),
      remote: suite.remote(),
      service: bob.username,
      inf: [authRow(alice)],
      keys: { party: 'alice' },
      pauseMs: 1000,
    });
    suite.track(caller);
    const [c, b] = await Promise.all([caller.done, callee.done]);
    assertSippOk({ caller: c, callee: b });
    assert.deepEqual(flowOf(c.messages), ['>INVITE', '<407', '>ACK', '>INVITE', '<100', '<180', '<200', '>ACK', '>BYE', '<200']);
    assert.deepEqual(flowOf(b.messages), ['<INVITE', '>180', '>200', '<ACK', '<BYE', '>200']);
    // The callee's answer (its SDP) reached the caller, and the caller's offer reached the callee.
    assert.match(bodyOf(c.messages.find((m) => m.kind === '200' && m.dir === 'received')!), /o=bob /);
    assert.match(bodyOf(b.messages.find((m) => m.kind === 'INVITE')!), /o=alice /);

    await log.ended();
    log.assertWellFormed();
    assert.deepEqual(log.lifeOf('A'), ['created', 'ringing', 'up', 'hungup normal caller']);
    assert.deepEqual(log.lifeOf('B'), ['created', 'ringing', 'up', 'hungup normal caller']);
    log.assertInOrder([
      'channel.created A',
      'dialplan.started default',
      'channel.created B',
      'channel.state B ringing',
      'channel.state A ringing',
      'channel.state A up',
      'channel.state B up',
      'bridge.created',
      'bridge.entered A',
      'bridge.entered B',
      'channel.hungup A normal caller',
      'channel.hungup B normal caller',
      'bridge.left A',
      'bridge.left B',
      'bridge.destroyed',
      'call.ended',
    ]);
    log.assertInOrder(['dialplan.started default', 'dialplan.log dialled answered', 'dialplan.ended completed']);
    const created = log.ofType('channel.created');
    assert.equal(created[0]!.channel.direction, 'inbound');
    assert.equal(created[0]!.channel.account, alice.username);
    assert.equal(created[1]!.channel.direction, 'outbound');
    assert.equal(created[1]!.channel.target, bob.username);
    assert.equal(created[1]!.channel.account, bob.username);
    assert.equal(created[1]!.channel.peer.port, callee.port, 'rung at the binding source address');

    const cdr = await recordOf(suite.sw, t, log.events[0]!.callId);
    assert.equal(cdr.status, 'answered');
    assert.equal(cdr.sipStatus, 200);
    assert.equal(cdr.hangupCause, 'normal');
    assert.equal(cdr.hangupBy, 'caller');
    assert.equal(cdr.direction, 'local');
    assert.equal(cdr.caller, alice.username);
    assert.equal(cdr.callee, bob.username);
    assert.equal(cdr.account, alice.username);
    assert.deepEqual(cdr.dialled, [bob.username]);
    assert.deepEqual(cdr.dialplan, { name: 'default', version: 2, outcome: 'completed' }, 'version 1 is the default stored at sign-up');
    assert.deepEqual(
      cdr.legs.map((l) => [l.id, l.direction, l.sipStatus, l.hangupCause, l.hangupBy]),
      [
        [log.idOf('A'), 'inbound', 200, 'normal', 'caller'],
        [log.idOf('B'), 'outbound', 200, 'normal', 'caller'],
      ],
      'answered legs show the 200 they were answered with',
    );
    assertBetween('talkMs', cdr.talkMs, 800, 5000);
    assertBetween('ringMs', cdr.ringMs, 0, 2000);
    assert.ok(cdr.answeredAt! >= cdr.ringingAt! && cdr.endedAt >= cdr.answeredAt!, 'times in order');
  });

  test('a stranger calls an account directly (its phones ring); the callee hangs up', async () => {
    const { t, log } = await suite.tenantWithLog();
    const bob = await t.account();

    const callee = await uasFor(bob, 'uas_answer_hangup.xml', { party: 'bob' }, 1000);
    const caller = await startSipp({
      dir: suite.dir,
      name: 'caller',
      scenario: scenario('uac_call_wait_bye.xml'),
      remote: suite.remote(),
      service: bob.username,
      keys: { party: 'stranger', caller: 'stranger' },
    });
    suite.track(caller);
    const [c, b] = await Promise.all([caller.done, callee.done]);
    assertSippOk({ caller: c, callee: b });
    assert.deepEqual(flowOf(c.messages), ['>INVITE', '<100', '<180', '<200', '>ACK', '<BYE', '>200']);
    assert.deepEqual(flowOf(b.messages), ['<INVITE', '>180', '>200', '<ACK', '>BYE', '<200']);

    await log.ended();
    log.assertWellFormed();
    assert.deepEqual(log.lifeOf('A'), ['created', 'ringing', 'up', 'hungup normal callee']);
    assert.deepEqual(log.lifeOf('B'), ['created', 'ringing', 'up', 'hungup normal callee']);
    log.assertInOrder([
      'channel.created A',
      'channel.created B',
      'channel.state B ringing',
      'channel.state A ringing',
      'channel.state A up',
      'channel.state B up',
      'bridge.created',
      'bridge.entered A',
      'bridge.entered B',
      'channel.hungup B normal callee',
      'channel.hungup A normal callee',
      'bridge.destroyed',
      'call.ended',
    ]);
    assert.equal(log.ofType('dialplan.started').length, 0, 'no dialplan for a call to an account without one');

    const cdr = await recordOf(suite.sw, t, log.events[0]!.callId);
    assert.equal(cdr.status, 'answered');
    assert.equal(cdr.sipStatus, 200);
    assert.equal(cdr.hangupCause, 'normal');
    assert.equal(cdr.hangupBy, 'callee');
    assert.equal(cdr.direction, 'in');
    assert.equal(cdr.caller, 'stranger');
    assert.equal(cdr.callee, bob.username);
    assert.equal(cdr.legs.length, 2);
    assertBetween('talkMs', cdr.talkMs, 800, 5000);
  });

  test('parallel dial: the first answer wins, the other ringing branch is cancelled', async () => {
    const { t, log } = await suite.tenantWithLog();
    const bob = await t.account();
    const carol = await t.account();
    await t.dialplan('both', dialplanSource(`  await dial('${bob.username} & ${carol.username}', { timeout: 10 });`));
    const group = await t.account({ dialplanIn: 'both' });
    const b = await uasFor(bob, 'uas_answer.xml', { party: 'bob' });
    const cr = await uasFor(carol, 'uas_ring_until_cancel.xml', { party: 'carol' });
    const caller = await startSipp({ dir: suite.dir, name: 'caller', scenario: scenario('uac_call.xml'), remote: suite.remote(), service: group.username, pauseMs: 800 });
    suite.track(caller);
    const [c, rb, rc] = await Promise.all([caller.done, b.done, cr.done]);
    assertSippOk({ caller: c, bob: rb, carol: rc });
    assert.deepEqual(flowOf(rb.messages), ['<INVITE', '>180', '>200', '<ACK', '<BYE', '>200']);
    assert.deepEqual(flowOf(rc.messages), ['<INVITE', '>180', '<CANCEL', '>200', '>487', '<ACK']);
    // The caller gets one final answer, bob's (one or two 180s before it, as both phones ring).
    assert.deepEqual(
      flowOf(c.messages).filter((k) => k !== '<180'),
      ['>INVITE', '<100', '<200', '>ACK', '>BYE', '<200'],
    );
    assert.match(bodyOf(c.messages.find((m) => m.kind === '200' && m.dir === 'received')!), /o=bob /);

    await log.ended();
    log.assertWellFormed();
    const byTarget = (u: string) => log.names().get(log.ofType('channel.created').find((e) => e.channel.target === u)!.channel.id)!;
    const [B, C] = [byTarget(bob.username), byTarget(carol.username)];
    assert.deepEqual(log.lifeOf(B), ['created', 'ringing', 'up', 'hungup normal caller']);
    assert.deepEqual(log.lifeOf(C), ['created', 'ringing', 'hungup answered-elsewhere switch']);
    log.assertInOrder([`channel.state ${B} up`, 'bridge.created', `channel.hungup ${C} answered-elsewhere switch`, 'channel.hungup A normal caller', 'call.ended']);

    const cdr = await recordOf(suite.sw, t, log.events[0]!.callId);
    assert.equal(cdr.status, 'answered');
    assert.equal(cdr.hangupBy, 'caller');
    assert.equal(cdr.legs.length, 3);
    assert.deepEqual(new Set(cdr.dialled), new Set([bob.username, carol.username]));
  });
});
