/**
 * Blind transfer by REFER (RFC 3515 / RFC 5589): A (caller sipp) talks to B (registered sipp, rung
 * by a dialplan that lets either party transfer), sends REFER Refer-To: C (another registered
 * account); the switch answers 202, reports progress
 * in NOTIFYs, and connects B with C by moving B's channel into a new bridge with C's: B keeps its
 * channel id, C gets a new one, and a transfer.blind event tells the result. A hangs up after the
 * final NOTIFY; C later hangs up, which ends B's leg too.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { skipWithout } from '../interop/tools.ts';
import { assertSippOk, bodyOf, callSuite, flowOf, headerOf, recordOf, registeredUas, scenario, startSipp, transferable } from './harness.ts';

const noSipp = skipWithout('sipp', 'sip-tester');

describe('blind transfer by REFER (sqlite)', { skip: noSipp, timeout: 60_000 }, () => {
  const suite = callSuite();

  test('A refers B to C: 202, NOTIFYs (100 then 200), B is re-INVITEd with C’s SDP and talks to C; transfer.blind ok', async () => {
    const { t, log } = await suite.tenantWithLog();
    const bob = await t.account();
    const carol = await t.account();
    // A (a stranger) may transfer B: the call's dialplan allows it. Where B goes is decided like a
    // call the tenant places: without a default dialplan, its accounts ring.
    await transferable(t, bob);
    const b = await registeredUas(suite.sw, suite.dir, bob, 'uas_transferee.xml', { party: 'bob' });
    suite.track(b);
    // C plays "target": the transferee checks that its re-INVITE carries o=target.
    const c = await registeredUas(suite.sw, suite.dir, carol, 'uas_answer_hangup.xml', { party: 'target' }, 1000);
    suite.track(c);
    const a = await startSipp({
      dir: suite.dir,
      name: 'transferer',
      scenario: scenario('uac_refer.xml'),
      remote: `127.0.0.1:${suite.sw.sipPort}`,
      service: bob.username,
      keys: { party: 'alice', refer_to: carol.username },
      pauseMs: 500,
    });
    suite.track(a);
    const [ra, rb, rc] = await Promise.all([a.done, b.done, c.done]);
    assertSippOk({ 'A (transferer)': ra, 'B (transferee)': rb, 'C (target)': rc });
    assert.deepEqual(flowOf(ra.messages), ['>INVITE', '<100', '<180', '<200', '>ACK', '>REFER', '<202', '<NOTIFY', '>200', '<NOTIFY', '>200', '>BYE', '<200']);
    assert.deepEqual(flowOf(rb.messages), ['<INVITE', '>180', '>200', '<ACK', '<INVITE', '>200', '<ACK', '<BYE', '>200']);
    assert.deepEqual(flowOf(rc.messages), ['<INVITE', '>180', '>200', '<ACK', '>BYE', '<200']);

    // NOTIFYs: the refer event package with sipfrag bodies, progress then success.
    const notifies = ra.messages.filter((m) => m.kind === 'NOTIFY');
    for (const n of notifies) {
      assert.match(headerOf(n, 'Event') ?? '', /^refer\b/i);
      assert.match(headerOf(n, 'Content-Type') ?? '', /^message\/sipfrag/i);
      assert.ok(headerOf(n, 'Subscription-State'), 'Subscription-State present');
    }
    assert.match(bodyOf(notifies[0]!), /^SIP\/2\.0 1\d\d/);
    assert.match(bodyOf(notifies.at(-1)!), /^SIP\/2\.0 200/);
    assert.match(headerOf(notifies.at(-1)!, 'Subscription-State') ?? '', /^terminated/i);

    // Media: B got C's SDP in its re-INVITE, and C got B's SDP (in its INVITE or, late offer, its ACK).
    const reinvite = rb.messages.filter((m) => m.kind === 'INVITE').at(-1)!;
    assert.match(bodyOf(reinvite), /o=target /);
    const toC = rc.messages
      .filter((m) => m.dir === 'received' && (m.kind === 'INVITE' || m.kind === 'ACK'))
      .map(bodyOf)
      .join('\n');
    assert.match(toC, /o=bob /, 'C received B’s SDP');
    // B's re-INVITE is in B's original dialog.
    assert.equal(headerOf(reinvite, 'Call-ID'), headerOf(rb.messages[0]!, 'Call-ID'));

    await log.ended();
    log.assertWellFormed();
    const [A, B, C] = [log.idOf('A'), log.idOf('B'), log.idOf('C')];
    // Nobody is renamed or replaced: B keeps its channel from created to hungup.
    // A's leg ends as transferred (it handed its party over), by its own BYE.
    assert.deepEqual(log.lifeOf('A'), ['created', 'ringing', 'up', 'hungup transferred caller']);
    assert.deepEqual(log.lifeOf('B'), ['created', 'ringing', 'up', 'hungup normal callee']);
    assert.deepEqual(log.lifeOf('C'), ['created', 'ringing', 'up', 'hungup normal callee']);
    assert.equal(log.ofType('channel.created').length, 3);
    assert.equal(log.ofType('channel.created')[2]!.channel.target, carol.username);

    const bridges = log.ofType('bridge.created').map((e) => e.bridge.id);
    assert.equal(bridges.length, 2, 'a new bridge for B and C');
    const [first, second] = bridges as [string, string];
    const moves = log.events.flatMap((e) =>
      e.type === 'bridge.entered' || e.type === 'bridge.left' ? [`${e.type} ${e.bridge.id === first ? 1 : 2} ${log!.names().get(e.channelId)}`] : [],
    );
    const at = (s: string) => moves.indexOf(s);
    for (const s of ['bridge.entered 1 A', 'bridge.entered 1 B', 'bridge.left 1 B', 'bridge.entered 2 B', 'bridge.entered 2 C'])
      assert.ok(at(s) >= 0, `${s} in ${moves.join(', ')}`);
    assert.ok(at('bridge.left 1 B') < at('bridge.entered 2 B'), `B leaves the first bridge before entering the second: ${moves.join(', ')}`);
    assert.equal(at('bridge.entered 2 A'), -1, 'A never joins the new bridge');
    const entered2 = log
      .ofType('bridge.entered')
      .filter((e) => e.bridge.id === second)
      .at(-1)!;
    assert.deepEqual(new Set(entered2.bridge.channelIds), new Set([B, C]));

    const transfers = log.ofType('transfer.blind');
    assert.equal(transfers.length, 1);
    assert.deepEqual(
      { transferer: transfers[0]!.transferer, transferee: transfers[0]!.transferee, target: transfers[0]!.target, result: transfers[0]!.result },
      { transferer: A, transferee: B, target: carol.username, result: 'ok' },
    );
    log.assertInOrder([
      'channel.created C',
      'channel.state C ringing',
      'channel.state C up',
      'transfer.blind ok',
      'channel.hungup A transferred caller',
      'channel.hungup C normal callee',
      'channel.hungup B normal callee',
      'call.ended',
    ]);

    const cdr = await recordOf(suite.sw, t, log.events[0]!.callId);
    assert.equal(cdr.status, 'answered');
    assert.deepEqual(
      cdr.legs.map((l) => l.id),
      [A, B, C],
    );
    assert.ok(cdr.dialled.includes(carol.username), `dialled ${JSON.stringify(cdr.dialled)}`);
    assert.ok(
      cdr.log.some((l) => l.message.startsWith(`blind transfer to ${carol.username}: ok`)),
      `the record's log notes the transfer: ${JSON.stringify(cdr.log)}`,
    );
    assert.ok(cdr.talkMs >= 1000, `talkMs ${cdr.talkMs} covers B talking to C`);
  });
});
