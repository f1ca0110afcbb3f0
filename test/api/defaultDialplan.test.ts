/**
 * A new tenant starts with a stored `default` dialplan (version 1, the commented starter): it is
 * listed and opened like any other, compiles, and is what the tenant's calls run: a phone that
 * dials a colleague's extension rings that colleague's phone through it. On SQLite and MySQL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { STARTER_DIALPLAN } from '../../contract/starterDialplan.ts';
import { DIALECTS, skipUnless } from '../helpers/databases.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { skipWithout } from '../interop/tools.ts';
import { assertSippOk, authRow, EventLog, flowOf, newTenant, recordOf, registeredUas, scenario, scratch, startSipp, type SippPeer } from '../calls/harness.ts';

const noSipp = skipWithout('sipp', 'sip-tester');

for (const dialect of DIALECTS) {
  describe(`default dialplan of a new tenant (${dialect})`, { skip: skipUnless(dialect) || noSipp, timeout: 90_000 }, () => {
    let sw: TestSwitch;
    const tmp = scratch();
    const peers: SippPeer[] = [];
    const logs: EventLog[] = [];
    before(async () => {
      sw = await startTestSwitch(dialect);
    });
    after(async () => {
      for (const p of peers) p.kill();
      for (const l of logs) l.stop();
      await sw?.close();
      tmp.remove();
    });

    test('sign-up stores default at version 1, and a call to an extension runs it and rings the phone', async () => {
      const t = await newTenant(sw);
      const list = await t.api.get('/dialplans');
      assert.equal(list.status, 200);
      assert.deepEqual(
        (list.body.items as Array<{ name: string; version: number }>).map((d) => [d.name, d.version]),
        [['default', 1]],
      );
      const stored = await t.api.get('/dialplans/default');
      assert.equal(stored.body.source, STARTER_DIALPLAN);
      assert.equal(stored.body.versions.length, 1);
      assert.match(stored.body.source as string, /^\/\/ This dialplan decides every call/, 'it says what it does in comments');
      // Getting started still asks the tenant to edit it: the stored starter is not an edit of its own.
      assert.equal((await t.api.get('/getting-started')).body.dialplan.done, false);

      const log = new EventLog(sw, t.id);
      logs.push(log);
      const alice = await t.account();
      const bob = await t.account();
      const extension = (await t.api.get(`/sip-accounts/${bob.id}`)).body.extension as string;
      assert.match(extension, /^\d+$/);
      const callee = await registeredUas(sw, tmp.dir, bob, 'uas_answer.xml', { party: 'bob' });
      peers.push(callee);
      const caller = await startSipp({
        dir: tmp.dir,
        name: 'caller',
        scenario: scenario('uac_auth_call.xml'),
        remote: `127.0.0.1:${sw.sipPort}`,
        service: extension,
        inf: [authRow(alice)],
        keys: { party: 'alice' },
      });
      peers.push(caller);
      const [c, b] = await Promise.all([caller.done, callee.done]);
      assertSippOk({ caller: c, callee: b });
      assert.deepEqual(flowOf(b.messages), ['<INVITE', '>180', '>200', '<ACK', '<BYE', '>200']);
      await log.ended();
      log.assertInOrder(['dialplan.started default', 'dialplan.ended completed']);
      assert.deepEqual(log.ofType('dialplan.started')[0]!.dialplan, { name: 'default', version: 1 });
      assert.match(log.ofType('dialplan.log')[0]!.message, new RegExp(`^${alice.username} calls ${extension}$`));
      const cdr = await recordOf(sw, t, log.events[0]!.callId);
      assert.equal(cdr.status, 'answered');
      assert.equal(cdr.legs[1]!.account, bob.username, 'the leg rang the phone of the extension dialled');

      // Saving a version of its own ticks the checklist's step.
      await t.dialplan('default', STARTER_DIALPLAN.replace('timeout: 20', 'timeout: 25'));
      assert.equal((await t.api.get('/getting-started')).body.dialplan.done, true);
    });
  });
}
