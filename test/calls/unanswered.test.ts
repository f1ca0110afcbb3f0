/**
 * Calls that are not answered at first, or at all: busy, no answer within the dial timeout, the
 * caller giving up while two phones ring in parallel, and a sequential dial falling back to the
 * next group after a failure. Caller sipp → switch → callee sipp(s); each test checks the SIP
 * flow each peer saw, the call's events in order and the call record.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { skipWithout } from '../interop/tools.ts';
import { type Account, assertBetween, assertSippOk, callSuite, dialplanSource, flowOf, headerOf, recordOf } from './harness.ts';

const noSipp = skipWithout('sipp', 'sip-tester');

describe('unanswered calls (sqlite)', { skip: noSipp, timeout: 90_000 }, () => {
  const suite = callSuite();
  const uasFor = (account: Account, file: string, party: string) => suite.uas(account, file, { party });
  const callerCalling = (file: string, service: string, pauseMs = 500) => suite.caller(file, service, 'stranger', pauseMs);

  test('busy: the callee answers 486, the caller gets 486', async () => {
    const { t, log } = await suite.tenantWithLog();
    const bob = await t.account();
    const callee = await uasFor(bob, 'uas_busy.xml', 'bob');
    const caller = await callerCalling('uac_busy.xml', bob.username);
    const [c, b] = await Promise.all([caller.done, callee.done]);
    assertSippOk({ caller: c, callee: b });
    assert.deepEqual(flowOf(c.messages), ['>INVITE', '<100', '<486', '>ACK']);
    assert.deepEqual(flowOf(b.messages), ['<INVITE', '>486', '<ACK']);

    await log.ended();
    log.assertWellFormed();
    assert.deepEqual(log.lifeOf('A'), ['created', 'hungup busy switch 486']);
    assert.deepEqual(log.lifeOf('B'), ['created', 'hungup busy callee 486']);
    log.assertInOrder(['channel.created A', 'channel.created B', 'channel.hungup B busy callee 486', 'channel.hungup A busy switch 486', 'call.ended']);
    assert.equal(log.ofType('bridge.created').length, 0, 'nothing bridged');

    const cdr = await recordOf(suite.sw, t, log.events[0]!.callId);
    assert.equal(cdr.status, 'busy');
    assert.equal(cdr.sipStatus, 486);
    assert.equal(cdr.hangupCause, 'busy');
    assert.equal(cdr.hangupBy, 'callee');
    assert.equal(cdr.answeredAt, null);
    assert.equal(cdr.talkMs, 0);
    assert.deepEqual(
      cdr.legs.map((l) => [l.id, l.direction, l.sipStatus, l.hangupCause]),
      [
        [log.idOf('A'), 'inbound', 486, 'busy'],
        [log.idOf('B'), 'outbound', 486, 'busy'],
      ],
    );
  });

  test('no answer: alice[timeout=2] rings 2 s, the callee gets CANCEL, the caller 480', async () => {
    const { t, log } = await suite.tenantWithLog();
    await t.dialplan('ring-two-seconds', dialplanSource(`  const r = await dial(call.to.user + '[timeout=2]');\n  log('dial: ' + r.result);`));
    const alice = await t.account({ dialplanIn: 'ring-two-seconds' });
    const callee = await uasFor(alice, 'uas_ring_until_cancel.xml', 'alice');
    const started = Date.now();
    const caller = await callerCalling('uac_no_answer.xml', alice.username);
    const [c, a] = await Promise.all([caller.done, callee.done]);
    const took = Date.now() - started;
    assertSippOk({ caller: c, callee: a });
    assert.deepEqual(flowOf(c.messages), ['>INVITE', '<100', '<180', '<480', '>ACK']);
    assert.deepEqual(flowOf(a.messages), ['<INVITE', '>180', '<CANCEL', '>200', '>487', '<ACK']);
    assert.ok(took >= 1900 && took < 6000, `the 480 came after ${took} ms, expected about 2 s`);
    // The CANCEL is for the INVITE the callee got: same branch, Call-ID and CSeq number.
    const inv = a.messages.find((m) => m.kind === 'INVITE')!;
    const cancel = a.messages.find((m) => m.kind === 'CANCEL')!;
    assert.equal(/branch=([^;\s]+)/.exec(headerOf(cancel, 'Via')!)?.[1], /branch=([^;\s]+)/.exec(headerOf(inv, 'Via')!)?.[1]);
    assert.equal(headerOf(cancel, 'Call-ID'), headerOf(inv, 'Call-ID'));
    assert.equal(headerOf(cancel, 'CSeq')?.split(' ')[0], headerOf(inv, 'CSeq')?.split(' ')[0]);

    await log.ended();
    log.assertWellFormed();
    assert.deepEqual(log.lifeOf('A'), ['created', 'ringing', 'hungup no-answer switch 480']);
    assert.deepEqual(log.lifeOf('B'), ['created', 'ringing', 'hungup no-answer switch']);
    log.assertInOrder([
      'channel.created A',
      'dialplan.started ring-two-seconds',
      'channel.created B',
      'channel.state B ringing',
      'channel.state A ringing',
      'channel.hungup B no-answer switch',
      'dialplan.log dial: no-answer',
      'dialplan.ended completed',
      'channel.hungup A no-answer switch 480',
      'call.ended',
    ]);

    const cdr = await recordOf(suite.sw, t, log.events[0]!.callId);
    assert.equal(cdr.status, 'no-answer');
    assert.equal(cdr.sipStatus, 480);
    assert.equal(cdr.hangupCause, 'no-answer');
    assert.equal(cdr.hangupBy, 'switch');
    assert.equal(cdr.direction, 'in');
    assert.equal(cdr.answeredAt, null);
    assertBetween('ringMs', cdr.ringMs, 1900, 4000);
    assert.equal(cdr.talkMs, 0);
    assert.equal(cdr.legs.length, 2);
    assert.deepEqual(cdr.dialplan, { name: 'ring-two-seconds', version: 1, outcome: 'completed' });
  });

  test('caller CANCEL while two phones ring in parallel: both get CANCEL, the caller 200 and 487', async () => {
    const { t, log } = await suite.tenantWithLog();
    const bob = await t.account();
    const carol = await t.account();
    await t.dialplan('ring-both', dialplanSource(`  const r = await dial('${bob.username} & ${carol.username}', { timeout: 20 });\n  log('dial: ' + r.result);`));
    const group = await t.account({ dialplanIn: 'ring-both' });
    const b = await uasFor(bob, 'uas_ring_until_cancel.xml', 'bob');
    const cr = await uasFor(carol, 'uas_ring_until_cancel.xml', 'carol');
    const caller = await callerCalling('uac_cancel.xml', group.username, 500);
    const [c, rb, rc] = await Promise.all([caller.done, b.done, cr.done]);
    assertSippOk({ caller: c, bob: rb, carol: rc });
    assert.deepEqual(flowOf(c.messages), ['>INVITE', '<100', '<180', '<180', '>CANCEL', '<200', '<487', '>ACK']);
    assert.match(
      headerOf(
        c.messages.find((m) => m.kind === '200')!,
        'CSeq',
      ) ?? '',
      /^1 CANCEL$/,
    );
    assert.match(
      headerOf(
        c.messages.find((m) => m.kind === '487')!,
        'CSeq',
      ) ?? '',
      /^1 INVITE$/,
    );
    for (const [name, r] of [
      ['bob', rb],
      ['carol', rc],
    ] as const) {
      assert.deepEqual(flowOf(r.messages), ['<INVITE', '>180', '<CANCEL', '>200', '>487', '<ACK'], `${name}'s branch was cancelled`);
    }

    await log.ended();
    log.assertWellFormed();
    assert.deepEqual(log.lifeOf('A'), ['created', 'ringing', 'hungup cancelled caller 487']);
    assert.deepEqual(log.lifeOf('B'), ['created', 'ringing', 'hungup cancelled switch']);
    assert.deepEqual(log.lifeOf('C'), ['created', 'ringing', 'hungup cancelled switch']);
    log.assertInOrder([
      'channel.created A',
      'dialplan.started ring-both',
      'channel.created B',
      'channel.created C',
      'channel.state A ringing',
      'channel.hungup A cancelled caller 487',
      'call.ended',
    ]);
    log.assertInOrder(['dialplan.started ring-both', 'dialplan.log dial: cancelled', 'dialplan.ended completed', 'call.ended']);
    assert.deepEqual(
      new Set(
        log
          .ofType('channel.created')
          .slice(1)
          .map((e) => e.channel.target),
      ),
      new Set([bob.username, carol.username]),
    );
    assert.equal(log.ofType('bridge.created').length, 0, 'nothing bridged');

    const cdr = await recordOf(suite.sw, t, log.events[0]!.callId);
    assert.equal(cdr.status, 'cancelled');
    assert.equal(cdr.sipStatus, 487);
    assert.equal(cdr.hangupCause, 'cancelled');
    assert.equal(cdr.hangupBy, 'caller');
    assert.equal(cdr.answeredAt, null);
    assert.deepEqual(new Set(cdr.dialled), new Set([bob.username, carol.username]));
    assert.equal(cdr.legs.length, 3);
    assertBetween('ringMs', cdr.ringMs, 300, 4000);
    assert.deepEqual(cdr.dialplan, { name: 'ring-both', version: 1, outcome: 'completed' });
  });

  test('sequential fallback: bob | carol, bob busy, carol answers', async () => {
    const { t, log } = await suite.tenantWithLog();
    const bob = await t.account();
    const carol = await t.account();
    await t.dialplan('fallback', dialplanSource(`  const r = await dial('${bob.username} | ${carol.username}', { timeout: 10 });\n  log('dial: ' + r.result + ' ' + r.target);`));
    const front = await t.account({ dialplanIn: 'fallback' });
    const b = await uasFor(bob, 'uas_busy.xml', 'bob');
    const cr = await uasFor(carol, 'uas_answer.xml', 'carol');
    const caller = await callerCalling('uac_call.xml', front.username, 800);
    const [c, rb, rc] = await Promise.all([caller.done, b.done, cr.done]);
    assertSippOk({ caller: c, bob: rb, carol: rc });
    assert.deepEqual(flowOf(c.messages), ['>INVITE', '<100', '<180', '<200', '>ACK', '>BYE', '<200']);
    assert.deepEqual(flowOf(rb.messages), ['<INVITE', '>486', '<ACK']);
    assert.deepEqual(flowOf(rc.messages), ['<INVITE', '>180', '>200', '<ACK', '<BYE', '>200']);

    await log.ended();
    log.assertWellFormed();
    assert.deepEqual(log.lifeOf('A'), ['created', 'ringing', 'up', 'hungup normal caller']);
    assert.deepEqual(log.lifeOf('B'), ['created', 'hungup busy callee 486']);
    assert.deepEqual(log.lifeOf('C'), ['created', 'ringing', 'up', 'hungup normal caller']);
    // carol is rung only after bob refused.
    log.assertInOrder([
      'channel.created A',
      'dialplan.started fallback',
      'channel.created B',
      'channel.hungup B busy callee 486',
      'channel.created C',
      'channel.state C ringing',
      'channel.state A ringing',
      'channel.state A up',
      'channel.state C up',
      'bridge.created',
      'bridge.entered A',
      'bridge.entered C',
      'channel.hungup A normal caller',
      'channel.hungup C normal caller',
      'bridge.destroyed',
      'call.ended',
    ]);
    log.assertInOrder(['dialplan.started fallback', `dialplan.log dial: answered ${carol.username}`, 'dialplan.ended completed']);
    assert.equal(
      log.ofType('bridge.entered').some((e) => e.channelId === log.idOf('B')),
      false,
      'bob never bridged',
    );

    const cdr = await recordOf(suite.sw, t, log.events[0]!.callId);
    assert.equal(cdr.status, 'answered');
    assert.equal(cdr.sipStatus, 200);
    assert.equal(cdr.hangupCause, 'normal');
    assert.equal(cdr.hangupBy, 'caller');
    assert.deepEqual(cdr.dialled, [bob.username, carol.username]);
    assert.deepEqual(
      cdr.legs.map((l) => [l.id, l.target ?? null, l.hangupCause]),
      [
        [log.idOf('A'), null, 'normal'],
        [log.idOf('B'), bob.username, 'busy'],
        [log.idOf('C'), carol.username, 'normal'],
      ],
    );
    assertBetween('talkMs', cdr.talkMs, 600, 5000);
    assert.deepEqual(cdr.dialplan, { name: 'fallback', version: 1, outcome: 'completed' });
  });

  test('a phone that is not registered: the caller gets 480 Temporarily Unavailable and the record says unavailable, not no answer', async () => {
    const { t, log } = await suite.tenantWithLog();
    const nobody = await t.account();
    const caller = await callerCalling('uac_no_answer.xml', nobody.username);
    const c = await caller.done;
    assertSippOk({ caller: c });
    const final = c.messages.find((m) => m.dir === 'received' && /^[3-6]/.test(m.kind))!;
    assert.equal(final.kind, '480');
    assert.match(final.text.split(/\r?\n/, 1)[0]!, /480 Temporarily Unavailable/);

    await log.ended();
    const cdr = await recordOf(suite.sw, t, log.events[0]!.callId);
    assert.equal(cdr.status, 'unavailable');
    assert.equal(cdr.sipStatus, 480);
    assert.equal(cdr.hangupCause, 'unavailable');
    assert.deepEqual(cdr.dialled, []);
  });
});
