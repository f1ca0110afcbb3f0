/**
 * What happens inside an answered call and just before it: re-INVITE (hold, a=sendonly) from
 * either side relayed with its SDP, answered and ACKed; early media (183 with SDP) reaching the
 * caller before the 200. Caller sipp → switch → registered callee sipp; each test checks the SIP
 * flow each peer saw, the call's events and its record.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ack, body, header, inDialog, place, sdp } from '../helpers/sipDialog.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { TEST_MEDIA_PORTS } from '../helpers/mediaPorts.ts';
import { eventually, silence } from '../helpers/time.ts';
import { skipWithout } from '../interop/tools.ts';
import { type Account, assertBetween, assertSippOk, bodyOf, callSuite, EventLog, flowOf, headerOf, recordOf, type SippMessage } from './harness.ts';

/** The SDP lines that matter for a comparison (the relay may re-wrap the body). */
const sdpLines = (m: SippMessage) =>
  bodyOf(m)
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);

/** The lines the media relay leaves alone: its address (o=, c=) and its port (m=) replace the phone's. */
const unrelayed = (lines: string[]) => lines.filter((l) => !l.startsWith('c=')).map((l) => l.replace(/^m=(\S+) \d+/, 'm=$1 *').replace(/^(o=.*IN IP4) \S+$/, '$1 *'));
const mediaPort = (lines: string[]) => Number(/^m=audio (\d+)/.exec(lines.find((l) => l.startsWith('m=audio')) ?? '')?.[1]);

/** `got` is `sent` with the relay in place of the phone: the relay's address and a port of the test switch's media range. */
function assertRelayed(got: SippMessage, sent: SippMessage, what: string): void {
  assert.deepEqual(unrelayed(sdpLines(got)), unrelayed(sdpLines(sent)), `${what}: relayed with only the address and port rewritten`);
  assert.ok(sdpLines(got).includes('c=IN IP4 127.0.0.1'));
  const port = mediaPort(sdpLines(got));
  assert.ok(port >= TEST_MEDIA_PORTS.min && port <= TEST_MEDIA_PORTS.max && port !== mediaPort(sdpLines(sent)), `${what}: the media port ${port} is the relay's`);
}

const noSipp = skipWithout('sipp', 'sip-tester');

describe('mid-call requests and early media (sqlite)', { skip: noSipp, timeout: 60_000 }, () => {
  const suite = callSuite();
  const uasFor = (account: Account, file: string, party: string, pauseMs = 500) => suite.uas(account, file, { party }, pauseMs);
  const callerCalling = (file: string, service: string, pauseMs = 500) => suite.caller(file, service, 'caller', pauseMs);

  async function setUp() {
    const { t, log } = await suite.tenantWithLog();
    return { t, log, bob: await t.account() };
  }

  /** Two channels, one bridge, nothing else happening to them in between. */
  function assertPlainAnsweredCall(log: EventLog, hungUpBy: 'caller' | 'callee') {
    log.assertWellFormed();
    assert.deepEqual(log.lifeOf('A'), ['created', 'ringing', 'up', `hungup normal ${hungUpBy}`]);
    assert.deepEqual(log.lifeOf('B'), ['created', 'ringing', 'up', `hungup normal ${hungUpBy}`]);
    assert.equal(log.ofType('bridge.created').length, 1);
    assert.equal(log.ofType('bridge.left').length, 2, 'nobody leaves the bridge before the hangup');
  }

  for (const side of ['caller', 'callee'] as const) {
    test(`re-INVITE from the ${side} (hold, a=sendonly) is relayed with its SDP, answered (a=recvonly) and ACKed`, async () => {
      const { t, log, bob } = await setUp();
      const fromCaller = side === 'caller';
      const callee = await uasFor(bob, fromCaller ? 'uas_accept_reinvite.xml' : 'uas_send_reinvite.xml', 'bob');
      const caller = await callerCalling(fromCaller ? 'uac_reinvite.xml' : 'uac_accept_reinvite.xml', bob.username);
      const [c, b] = await Promise.all([caller.done, callee.done]);
      assertSippOk({ caller: c, callee: b });
      const [holder, held] = fromCaller ? [c, b] : [b, c];
      // The party on hold got a re-INVITE, answered it, and got the ACK for its answer.
      const heldFlow = flowOf(held.messages);
      const at = heldFlow.lastIndexOf('<INVITE');
      assert.ok(at > 0, `no re-INVITE reached the ${fromCaller ? 'callee' : 'caller'}: ${heldFlow.join(' ')}`);
      assert.deepEqual(heldFlow.slice(at, at + 3), ['<INVITE', '>200', '<ACK']);
      // The holder's re-INVITE was answered with a 200 carrying the held party's SDP, which it ACKed.
      const holderFlow = flowOf(holder.messages).filter((k) => k !== '<100');
      const sent = holderFlow.lastIndexOf('>INVITE');
      assert.deepEqual(holderFlow.slice(sent, sent + 3), ['>INVITE', '<200', '>ACK']);

      const reinviteSent = holder.messages.filter((m) => m.kind === 'INVITE' && m.dir === 'sent').at(-1)!;
      const reinviteGot = held.messages.filter((m) => m.kind === 'INVITE' && m.dir === 'received').at(-1)!;
      assertRelayed(reinviteGot, reinviteSent, 'the re-INVITE SDP');
      assert.ok(sdpLines(reinviteGot).includes('a=sendonly'));
      const okSent = held.messages.filter((m) => m.kind === '200' && m.dir === 'sent' && /INVITE/.test(headerOf(m, 'CSeq') ?? '')).at(-1)!;
      const okGot = holder.messages.filter((m) => m.kind === '200' && m.dir === 'received' && /INVITE/.test(headerOf(m, 'CSeq') ?? '')).at(-1)!;
      assertRelayed(okGot, okSent, 'the answer SDP');
      // Hold keeps the ports: the held party is told the same relay port as in the call's INVITE.
      const firstGot = held.messages.find((m) => m.kind === (fromCaller ? 'INVITE' : '200') && m.dir === 'received')!;
      assert.equal(mediaPort(sdpLines(reinviteGot)), mediaPort(sdpLines(firstGot)));
      assert.ok(sdpLines(okGot).includes('a=recvonly'));
      // In the held party's dialog the re-INVITE comes from the switch: the dialog's Call-ID, a higher CSeq.
      const first = held.messages.find((m) => m.kind === 'INVITE')!;
      assert.equal(headerOf(reinviteGot, 'Call-ID'), headerOf(first, 'Call-ID'));

      await log.ended();
      // In both scenarios the caller hangs up at the end.
      assertPlainAnsweredCall(log, 'caller');
      const cdr = await recordOf(suite.sw, t, log.events[0]!.callId);
      assert.equal(cdr.status, 'answered');
      assert.equal(cdr.hangupCause, 'normal');
      assert.equal(cdr.hangupBy, 'caller');
      assert.equal(cdr.legs.length, 2);
      assertBetween('talkMs', cdr.talkMs, 400, 6000);
    });
  }

  test("an offerless re-INVITE: the callee's offer reaches the caller in a 200 resent until the ACK, whose answer reaches the callee", async () => {
    const { log, bob } = await setUp();
    const callee = await uasFor(bob, 'uas_late_offer_reinvite.xml', 'bob');
    const caller = await TestPhone.open('udp', suite.sw.sipPort);
    try {
      const leg = await place(caller, suite.sw.sipPort, bob.username);
      // A re-INVITE without SDP; its 200 carries the callee's offer. The caller does not ACK yet.
      const ok = await inDialog(caller, leg, 'INVITE');
      assert.match(ok, /^SIP\/2\.0 200 /);
      assert.match(body(ok), /o=bob-offer /, "the callee's offer is relayed to the caller");
      const isThe200 = (raw: string) => /^SIP\/2\.0 200 /.test(raw) && header(raw, 'CSeq') === `${leg.cseq} INVITE`;
      // Resent after 0.5 s and 1.5 s (T1, doubling) while no ACK comes: no faster than that.
      const sentAt = Date.now();
      await eventually('the 200 resent twice', () => caller.received.filter(isThe200).length >= 3, 5000);
      assert.ok(Date.now() - sentAt >= 1000, `the 200 was resent twice within ${Date.now() - sentAt} ms`);
      // The next resend is 2 s away: the ACK reaches the switch well before it.
      ack(caller, leg, leg.cseq, sdp('alice-answer'));
      const after = caller.received.filter(isThe200).length;
      await silence(2500);
      assert.equal(caller.received.filter(isThe200).length, after, 'no more resends once the ACK came');
      assert.match(await inDialog(caller, leg, 'BYE'), /^SIP\/2\.0 200 /);
    } finally {
      caller.close();
    }
    // The callee's scenario checks that the ACK it got carries the caller's answer.
    const b = await callee.done;
    assertSippOk({ callee: b });
    assert.deepEqual(flowOf(b.messages), ['<INVITE', '>180', '>200', '<ACK', '<INVITE', '>200', '<ACK', '<BYE', '>200']);
    assert.equal(bodyOf(b.messages.filter((m) => m.kind === 'INVITE').at(-1)!), '', 'the re-INVITE reached the callee without SDP');
    await log.ended();
    log.assertWellFormed();
  });

  test('early media: the callee’s 183 with SDP reaches the caller, with that SDP, before the 200', async () => {
    const { t, log, bob } = await setUp();
    const callee = await uasFor(bob, 'uas_early_media.xml', 'bob');
    const caller = await callerCalling('uac_early_media.xml', bob.username);
    const [c, b] = await Promise.all([caller.done, callee.done]);
    assertSippOk({ caller: c, callee: b });
    assert.deepEqual(flowOf(c.messages), ['>INVITE', '<100', '<183', '<200', '>ACK', '>BYE', '<200']);
    assert.deepEqual(flowOf(b.messages), ['<INVITE', '>183', '>200', '<ACK', '<BYE', '>200']);
    const sent183 = b.messages.find((m) => m.kind === '183')!;
    const got183 = c.messages.find((m) => m.kind === '183')!;
    assertRelayed(got183, sent183, 'the early SDP');
    assert.ok(sdpLines(got183).includes('s=early-bob'));
    assert.match(headerOf(got183, 'Content-Type') ?? '', /application\/sdp/);
    // The 200's SDP is the callee's final answer, not the early one, on the same relay port.
    const got200 = c.messages.find((m) => m.kind === '200')!;
    assert.ok(sdpLines(got200).includes('s=bob'));
    assert.equal(mediaPort(sdpLines(got200)), mediaPort(sdpLines(got183)), 'early media and the answer reach the caller on one relay port');

    await log.ended();
    assertPlainAnsweredCall(log, 'caller');
    log.assertInOrder(['channel.state B ringing', 'channel.state A ringing', 'channel.state B up', 'channel.hungup A normal caller', 'call.ended']);
    const cdr = await recordOf(suite.sw, t, log.events[0]!.callId);
    assert.equal(cdr.status, 'answered');
    assert.equal(cdr.hangupBy, 'caller');
    // The callee waited 500 ms between its 183 and its 200.
    assertBetween('ringMs', cdr.ringMs, 400, 3000);
  });
});
