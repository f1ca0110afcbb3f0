/**
 * A phone dials a colleague by extension: without a dialplan (a tenant that deleted the `default`
 * it got at sign-up: the switch rings the phone of that number) and through the stored `default`
 * that dials the number; a number nobody carries rings no one.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { STARTER_DIALPLAN } from '../../contract/starterDialplan.ts';
import { skipWithout } from '../interop/tools.ts';
import { assertSippOk, authRow, callSuite, dialplanSource, flowOf, recordOf, scenario, startSipp } from './harness.ts';

const noSipp = skipWithout('sipp', 'sip-tester');

describe('extensions (sqlite, sipp)', { skip: noSipp, timeout: 60_000 }, () => {
  const suite = callSuite();

  const callExtension = async (withDialplan: boolean) => {
    const { t, log } = await suite.tenantWithLog();
    const alice = await t.account();
    const bob = await t.account();
    const bobExtension = (await t.api.get(`/sip-accounts/${bob.id}`)).body.extension as string;
    assert.equal(bobExtension, '101');
    if (withDialplan) assert.equal((await t.api.get('/dialplans/default')).body.source, STARTER_DIALPLAN, 'sign-up stored the starter as default');
    else assert.equal((await t.api.delete('/dialplans/default')).status, 204);
    const callee = await suite.uas(bob, 'uas_answer.xml', { party: 'bob' });
    const caller = suite.track(
      await startSipp({
        dir: suite.dir,
        name: 'caller',
        scenario: scenario('uac_auth_call.xml'),
        remote: suite.remote(),
        service: bobExtension,
        inf: [authRow(alice)],
        keys: { party: 'alice' },
      }),
    );
    const [c, b] = await Promise.all([caller.done, callee.done]);
    assertSippOk({ caller: c, callee: b });
    assert.deepEqual(flowOf(b.messages), ['<INVITE', '>180', '>200', '<ACK', '<BYE', '>200']);
    await log.ended();
    const cdr = await recordOf(suite.sw, t, log.events[0]!.callId);
    assert.equal(cdr.status, 'answered');
    assert.equal(cdr.callee, '101');
    assert.equal(cdr.legs[1]!.account, bob.username, 'the leg rang the phone numbered 101');
    return { t, log, cdr };
  };

  test('without a dialplan, dialling 101 rings the phone numbered 101', async () => {
    const { log } = await callExtension(false);
    assert.equal(log.ofType('dialplan.started').length, 0);
  });

  test('the default dialplan stored at sign-up (the starter) rings the phone of the number dialled', async () => {
    const { log } = await callExtension(true);
    log.assertInOrder(['dialplan.started default', 'dialplan.ended completed']);
    assert.match(log.ofType('dialplan.log')[0]!.message, / calls 101$/);
  });

  test('a number no phone of the tenant carries reaches nobody, not even another tenant’s 100', async () => {
    const other = await suite.tenantWithLog();
    const stranger = await other.t.account();
    const strangerPhone = await suite.uas(stranger, 'uas_answer.xml', { party: 'stranger' }, 500);
    const { t, log } = await suite.tenantWithLog();
    const alice = await t.account({ extension: '200' });
    const caller = suite.track(
      await startSipp({
        dir: suite.dir,
        name: 'caller-none',
        scenario: scenario('uac_auth_call_not_found.xml'),
        remote: suite.remote(),
        service: '100',
        inf: [authRow(alice)],
        keys: { party: 'alice' },
      }),
    );
    const c = await caller.done;
    await log.ended();
    const cdr = await recordOf(suite.sw, t, log.events[0]!.callId);
    assert.notEqual(cdr.status, 'answered');
    assert.equal(cdr.legs.length, 1, 'no leg rang anywhere');
    assertSippOk({ caller: c });
    strangerPhone.kill();
  });

  for (const [how, source] of [
    ['the starter dialplan', STARTER_DIALPLAN],
    [
      'a dialplan passing the failure on as 480',
      dialplanSource(`  const r = await dial(call.to.user, { timeout: 10 });\n  if (!r.answered) return respond(480, 'Nobody answered');`),
    ],
  ] as const) {
    test(`a call to a phone that is not registered is recorded unavailable, through ${how}`, async () => {
      const { t, log } = await suite.tenantWithLog();
      const alice = await t.account();
      await t.account();
      await t.dialplan('default', source);
      const caller = suite.track(
        await startSipp({
          dir: suite.dir,
          name: 'caller-away',
          scenario: scenario('uac_auth_call_unavailable.xml'),
          remote: suite.remote(),
          service: '101',
          inf: [authRow(alice)],
          keys: { party: 'alice' },
        }),
      );
      assertSippOk({ caller: await caller.done });
      await log.ended();
      const cdr = await recordOf(suite.sw, t, log.events[0]!.callId);
      assert.equal(cdr.status, 'unavailable');
      assert.equal(cdr.sipStatus, 480);
      assert.equal(cdr.hangupCause, 'unavailable');
    });
  }
});
