/**
 * Attended transfer (RFC 5589 §7, RFC 3891): A talks to B (call 1), puts B on hold and calls C
 * (call 2, the consultation), then sends REFER on call 1 with Refer-To: C?Replaces=<A's dialog of
 * call 2>. The switch invites C's phone again with Replaces naming C's own dialog of call 2; C's
 * phone takes the new call in place of the consultation and ends that one; B is re-INVITEd with
 * C's SDP and talks to C. B (sipp) keeps its channel; A and C are played by hand-written SIP so
 * that the test sees every header the transfer depends on.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { answeredBy, answering, body, header, inDialog, isRequest, place, sdp, type Leg } from '../helpers/sipDialog.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { skipWithout } from '../interop/tools.ts';
import { assertSippOk, bodyOf, callSuite, flowOf, recordOf, registeredUas, transferable, type EventLog, type Tenant } from './harness.ts';

const noSipp = skipWithout('sipp', 'sip-tester');

async function bothCallsEnded(log: EventLog): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (log.ofType('call.ended').length < 2) {
    if (Date.now() > deadline) throw new Error(`both calls did not end:\n${log.summary().join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Refer-To naming `user`, replacing the dialog `leg` (as its holder sees it). */
const referToReplacing = (user: string, leg: Leg) =>
  `Refer-To: <sip:${user}@127.0.0.1?Replaces=${encodeURIComponent(`${leg.callId};to-tag=${leg.remoteTag};from-tag=${leg.localTag}`)}>`;

describe('attended transfer by REFER with Replaces (sqlite)', { skip: noSipp, timeout: 60_000 }, () => {
  const suite = callSuite();

  /**
   * A (a stranger's phone) talks to B (sipp playing `bScenario`) in call 1 and consults C (a
   * registered phone that answers) in call 2. `close` stops A's and C's phones.
   */
  async function consulting(t: Tenant, bScenario: string) {
    const bob = await t.account();
    const carol = await t.account();
    await transferable(t, bob);
    const b = suite.track(await registeredUas(suite.sw, suite.dir, bob, bScenario, { party: 'bob' }));
    const c = await TestPhone.open('udp', suite.sw.sipPort);
    const a = await TestPhone.open('udp', suite.sw.sipPort);
    const aInbox = answering(a);
    const close = () => {
      aInbox.stop();
      a.close();
      c.close();
    };
    try {
      assert.equal((await c.register({ user: carol.username, password: carol.password })).final.status, 200);
      const call1 = await place(a, suite.sw.sipPort, bob.username);
      const pending = place(a, suite.sw.sipPort, carol.username);
      const invite1 = await c.waitFor(isRequest('INVITE'), 5000);
      c.reply(invite1, 200, 'OK', ['Content-Type: application/sdp'], sdp('target'));
      return { carol, b, a, c, aInbox, call1, call2: await pending, invite1, close };
    } catch (err) {
      close();
      throw err;
    }
  }

  test('C takes over B from A: C is invited with Replaces naming its consultation dialog; B talks to C; transfer.attended ok', async () => {
    const { t, log } = await suite.tenantWithLog();
    // B answers, later gets a re-INVITE that must carry C's SDP (o=target), then the final BYE.
    const { carol, b, a, c, aInbox, call1, call2, invite1, close } = await consulting(t, 'uas_transferee.xml');
    try {
      const cLeg1 = answeredBy(c, invite1);

      // A transfers B to C, replacing its consultation with C.
      const cFrom = c.received.length;
      const referred = await inDialog(a, call1, 'REFER', [referToReplacing(carol.username, call2), `Referred-By: <sip:stranger@127.0.0.1>`]);
      assert.match(referred, /^SIP\/2\.0 202 /);

      // C's phone is invited again, naming its own dialog of the consultation, with no SDP (late offer).
      const invite2 = await c.waitFor(isRequest('INVITE'), 5000, cFrom);
      assert.equal(header(invite2, 'Replaces'), `${cLeg1.callId};to-tag=${cLeg1.localTag};from-tag=${cLeg1.remoteTag}`);
      assert.equal(header(invite2, 'Require'), 'replaces');
      assert.notEqual(header(invite2, 'Call-ID'), cLeg1.callId, 'a new dialog');
      assert.equal(body(invite2), '');
      const ackFrom = c.received.length;
      c.reply(invite2, 200, 'OK', ['Content-Type: application/sdp'], sdp('target'));
      const ack2 = await c.waitFor(isRequest('ACK'), 5000, ackFrom);
      assert.match(body(ack2), /o=bob /, "the ACK carries B's answer");
      // As its Replaces handling requires, C ends the consultation dialog itself.
      assert.match(await inDialog(c, cLeg1, 'BYE'), /^SIP\/2\.0 200 /);

      // A hears progress then success, is hung up in the consultation, and hangs up call 1.
      const deadline = Date.now() + 5000;
      while ((!aInbox.notifies.some((n) => body(n).startsWith('SIP/2.0 200')) || !aInbox.byes.length) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(
        aInbox.notifies.map((n) => body(n).split('\r\n')[0]),
        ['SIP/2.0 100 Trying', 'SIP/2.0 200 OK'],
      );
      assert.deepEqual(
        aInbox.byes.map((raw) => header(raw, 'Call-ID')),
        [call2.callId],
        "the switch ended A's consultation leg",
      );
      assert.match(await inDialog(a, call1, 'BYE'), /^SIP\/2\.0 200 /);

      // B and C talk (B's re-INVITE was ACKed before C's ACK above was sent), then C hangs up: B gets the BYE.
      const cLeg2 = answeredBy(c, invite2);
      assert.match(await inDialog(c, cLeg2, 'BYE'), /^SIP\/2\.0 200 /);
      const rb = await b.done;
      assertSippOk({ 'B (transferee)': rb });
      assert.deepEqual(flowOf(rb.messages), ['<INVITE', '>180', '>200', '<ACK', '<INVITE', '>200', '<ACK', '<BYE', '>200']);
      assert.match(bodyOf(rb.messages.filter((m) => m.kind === 'INVITE').at(-1)!), /o=target /);
    } finally {
      close();
    }

    await bothCallsEnded(log);
    log.assertWellFormed(2);
    // Channels by creation: A and B (call 1), A's consultation leg and C's (call 2), C's new leg (call 1).
    assert.deepEqual(log.lifeOf('A'), ['created', 'ringing', 'up', 'hungup transferred caller']);
    assert.deepEqual(log.lifeOf('B'), ['created', 'ringing', 'up', 'hungup normal callee']);
    assert.deepEqual(log.lifeOf('C'), ['created', 'up', 'hungup normal callee']);
    assert.deepEqual(log.lifeOf('D'), ['created', 'up', 'hungup transferred callee']);
    assert.deepEqual(log.lifeOf('E'), ['created', 'up', 'hungup normal callee']);
    const [A, B, C, D, E] = ['A', 'B', 'C', 'D', 'E'].map((n) => log.idOf(n));
    const transfer = log.ofType('transfer.attended');
    assert.equal(transfer.length, 1);
    assert.deepEqual(
      { ...transfer[0]!, seq: 0, at: 0, nodeId: '', callId: '', tenantId: '' },
      {
        type: 'transfer.attended',
        seq: 0,
        at: 0,
        nodeId: '',
        callId: '',
        tenantId: '',
        transferer: A,
        transferee: B,
        replaced: C,
        target: D,
        party: carol.username,
        how: 'replaces',
        result: 'ok',
        sipStatus: 200,
      },
    );
    // B moved into a new bridge with C's new leg, in call 1.
    const lastBridge = log
      .ofType('bridge.entered')
      .filter((e) => e.channelId === E)
      .at(-1)!;
    assert.deepEqual(new Set(lastBridge.bridge.channelIds), new Set([B, E]));
    assert.equal(lastBridge.callId, transfer[0]!.callId);

    const record = await recordOf(suite.sw, t, transfer[0]!.callId);
    assert.equal(record.status, 'answered');
    assert.ok(
      record.log.some((l: { message: string }) => l.message === `attended transfer to ${carol.username}: ok`),
      JSON.stringify(record.log),
    );
  });

  test('when C cannot replace (420), the transfer fails: A hears why and still has both calls; B stays with A', async () => {
    const { t, log } = await suite.tenantWithLog();
    const { carol, b, a, c, aInbox, call1, call2, close } = await consulting(t, 'uas_answer.xml');
    let cInbox: ReturnType<typeof answering> | undefined;
    try {
      const cFrom = c.received.length;
      assert.match(await inDialog(a, call1, 'REFER', [referToReplacing(carol.username, call2)]), /^SIP\/2\.0 202 /);
      const invite2 = await c.waitFor(isRequest('INVITE'), 5000, cFrom);
      c.reply(invite2, 420, 'Bad Extension', ['Unsupported: replaces']);
      await c.waitFor((raw) => isRequest('ACK')(raw) && header(raw, 'Call-ID') === header(invite2, 'Call-ID'), 5000, cFrom);
      cInbox = answering(c);

      const deadline = Date.now() + 5000;
      while (aInbox.notifies.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(
        aInbox.notifies.map((n) => body(n).split('\r\n')[0]),
        ['SIP/2.0 100 Trying', 'SIP/2.0 420 Transfer Failed'],
      );
      assert.deepEqual(aInbox.byes, [], "both of A's calls are still up");

      // A gives up on the transfer and hangs up both calls itself.
      assert.match(await inDialog(a, call2, 'BYE'), /^SIP\/2\.0 200 /);
      assert.match(await inDialog(a, call1, 'BYE'), /^SIP\/2\.0 200 /);
      const rb = await b.done;
      assertSippOk({ 'B (transferee)': rb });
      assert.deepEqual(flowOf(rb.messages), ['<INVITE', '>180', '>200', '<ACK', '<BYE', '>200'], 'B was never moved');
    } finally {
      cInbox?.stop();
      close();
    }
    await bothCallsEnded(log);
    log.assertWellFormed(2);
    const transfer = log.ofType('transfer.attended');
    assert.deepEqual(
      transfer.map((e) => [e.result, e.sipStatus]),
      [['failed', 420]],
    );
    assert.deepEqual(log.lifeOf('D'), ['created', 'up', 'hungup normal caller'], "C's consultation leg ends with A's BYE, not as transferred");
    assert.deepEqual(log.lifeOf('E'), ['created', 'hungup rejected callee 420']);
  });

  test("a Replaces naming a call that is not the tenant's, or no call, is refused and nothing is dialled", async () => {
    const { t } = await suite.tenantWithLog();
    const bob = await t.account();
    // Transfers are allowed on call 1: what is refused below is what its Replaces names.
    await transferable(t, bob);
    const b = suite.track(await registeredUas(suite.sw, suite.dir, bob, 'uas_answer.xml', { party: 'bob' }));
    const a = await TestPhone.open('udp', suite.sw.sipPort);
    const aInbox = answering(a);
    try {
      const call1 = await place(a, suite.sw.sipPort, bob.username);
      // Another tenant's live call: A names its dialog exactly.
      const other = await suite.tenantWithLog();
      const dave = await other.t.account();
      const d = suite.track(await registeredUas(suite.sw, suite.dir, dave, 'uas_answer.xml', { party: 'dave' }));
      const foreign = await place(a, suite.sw.sipPort, dave.username);
      // A call of this tenant that A is no party to: someone else calls Ed.
      const ed = await t.account();
      const e = suite.track(await registeredUas(suite.sw, suite.dir, ed, 'uas_answer.xml', { party: 'ed' }));
      const x = await TestPhone.open('udp', suite.sw.sipPort);
      const xInbox = answering(x);
      const notMine = await place(x, suite.sw.sipPort, ed.username);
      for (const [why, replaces] of [
        ['another tenant', `${foreign.callId};to-tag=${foreign.remoteTag};from-tag=${foreign.localTag}`],
        ["a call that is not the transferer's", `${notMine.callId};to-tag=${notMine.remoteTag};from-tag=${notMine.localTag}`],
        ['no such call', `nothing@here;to-tag=x;from-tag=y`],
        ['no tags', call1.callId],
      ] as const) {
        const r = await inDialog(a, call1, 'REFER', [`Refer-To: <sip:x@127.0.0.1?Replaces=${encodeURIComponent(replaces)}>`]);
        assert.match(r, /^SIP\/2\.0 403 /, why);
      }
      assert.deepEqual(aInbox.notifies, [], 'no transfer started');
      await inDialog(a, foreign, 'BYE');
      await inDialog(a, call1, 'BYE');
      await inDialog(x, notMine, 'BYE');
      xInbox.stop();
      x.close();
      assertSippOk({ bob: await b.done, dave: await d.done, ed: await e.done });
    } finally {
      aInbox.stop();
      a.close();
    }
  });
});
