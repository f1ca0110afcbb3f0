/**
 * What the call path relies on, for each engine, with real RTP over loopback: phones whose SDP
 * names 127.0.0.99 (nothing listens there) hear each other through the relay; a fork keeps only
 * the branch that answered; hold and resume keep the ports; delete frees them; statistics count
 * what was sent; DTMF and RTCP pass; a stray source cannot take a latched leg over.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { ENGINES, skipEngine, startEngine, type TestEngine } from './engines.ts';
import { mediaTarget, RtpPhone, until } from './rtpPhone.ts';

const RANGES = { embedded: [31000, 31199], rtpengine: [31200, 31399] } as const;

/**
 * Waits until a UDP port on 127.0.0.1 can be bound (nobody holds it). rtpengine closes a deleted
 * leg's sockets on its own thread, a moment after it answered the delete.
 */
async function becomesFree(port: number, what: string): Promise<void> {
  await until(what, () => portFree(port), 3_000);
}

/** Whether a UDP port on 127.0.0.1 can be bound (nobody holds it). */
async function portFree(port: number): Promise<boolean> {
  const s = dgram.createSocket('udp4');
  const ok = await new Promise<boolean>((resolve) => {
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => resolve(true));
  });
  s.close();
  return ok;
}

let seq = 0;
const newCallId = () => `call-${process.pid}-${++seq}`;

for (const name of ENGINES) {
  describe(`media relay: ${name}`, { skip: skipEngine(name), timeout: 60_000 }, () => {
    let t: TestEngine;
    const phones: RtpPhone[] = [];
    const phone = async (n: string) => {
      const p = await RtpPhone.open(n);
      phones.push(p);
      return p;
    };

    before(async () => {
      t = await startEngine(name, { portMin: RANGES[name][0], portMax: RANGES[name][1] });
    });
    after(async () => {
      for (const p of phones) p.close();
      await t?.close();
    });

    /** A call set up A → B: returns where each phone must send (the relay's ports for it). */
    async function connect(callId: string, a: RtpPhone, b: RtpPhone): Promise<{ toRelayFromA: number; toRelayFromB: number }> {
      const offer = await t.engine.offer({ callId, fromTag: 'A', toTag: 'B', sdp: a.sdp() });
      const answer = await t.engine.answer({ callId, fromTag: 'A', toTag: 'B', sdp: b.sdp() });
      return { toRelayFromB: mediaTarget(offer).port, toRelayFromA: mediaTarget(answer).port };
    }

    test('audio flows both ways between phones whose SDP names an address nobody listens on', async () => {
      const [a, b] = [await phone('alice'), await phone('bob')];
      const callId = newCallId();
      const offer = await t.engine.offer({ callId, fromTag: 'A', toTag: 'B', sdp: a.sdp() });
      assert.equal(mediaTarget(offer).address, '127.0.0.1', 'the offer names the relay');
      assert.doesNotMatch(offer, /127\.0\.0\.99/);
      const answer = await t.engine.answer({ callId, fromTag: 'A', toTag: 'B', sdp: b.sdp() });
      assert.equal(mediaTarget(answer).address, '127.0.0.1');
      assert.doesNotMatch(answer, /127\.0\.0\.99/);
      // Both send: each learns the other's real source from its packets (symmetric RTP).
      await Promise.all([a.sendAudio(mediaTarget(answer).port, 40), b.sendAudio(mediaTarget(offer).port, 40)]);
      await until('both phones heard 35+ packets of the other', () => a.numbersFrom(b).length >= 35 && b.numbersFrom(a).length >= 35);
      // The payload arrives as sent: packet n of alice is packet n of alice.
      const got = b.received.find((r) => r.payload.toString('latin1', 0, 8) === 'alice#7\u00ff');
      assert.ok(got, 'bob received alice#7');
      assert.deepEqual(got.payload, a.payloadOf(7));
      await t.engine.delete({ callId });
    });

    test('a fork: every answer gives the caller the same port, and only the branch that answered keeps its stream', async () => {
      const [a, b1, b2] = [await phone('caller'), await phone('branch1'), await phone('branch2')];
      const callId = newCallId();
      const offer1 = await t.engine.offer({ callId, fromTag: 'A', toTag: 'B1', sdp: a.sdp() });
      const offer2 = await t.engine.offer({ callId, fromTag: 'A', toTag: 'B2', sdp: a.sdp() });
      const [toRelayFromB1, toRelayFromB2] = [mediaTarget(offer1).port, mediaTarget(offer2).port];
      assert.notEqual(toRelayFromB1, toRelayFromB2, 'each branch gets ports of its own');
      // Branch 2 sends early media (183); then branch 1 answers (200) and branch 2 is let go.
      const early = await t.engine.answer({ callId, fromTag: 'A', toTag: 'B2', sdp: b2.sdp(), early: true });
      const toRelayFromA = mediaTarget(early).port;
      await Promise.all([b2.sendAudio(toRelayFromB2, 20), a.sendAudio(toRelayFromA, 20)]);
      await until('the caller hears the early media of branch 2', () => a.numbersFrom(b2).length >= 15);
      const final = await t.engine.answer({ callId, fromTag: 'A', toTag: 'B1', sdp: b1.sdp() });
      assert.equal(mediaTarget(final).port, toRelayFromA, "the caller's port stays the same through the fork");
      await t.engine.delete({ callId, leg: { tag: 'B2', peerTag: 'A' } });
      await becomesFree(toRelayFromB2, "the losing branch's port is free");
      await becomesFree(toRelayFromB2 + 1, 'and its RTCP port');

      await Promise.all([a.sendAudio(toRelayFromA, 40, { from: 100 }), b1.sendAudio(toRelayFromB1, 40), b2.sendAudio(toRelayFromB2, 20, { from: 100 })]);
      await until('caller and branch 1 hear each other', () => b1.numbersFrom(a).filter((n) => n >= 100).length >= 35 && a.numbersFrom(b1).length >= 35);
      // Packets numbered from 100 were all sent after the losing branch was let go.
      assert.deepEqual(
        b2.numbersFrom(a).filter((n) => n >= 100),
        [],
        'the losing branch hears nothing more',
      );
      assert.deepEqual(
        a.numbersFrom(b2).filter((n) => n >= 100),
        [],
        'and is not heard',
      );
      await t.engine.delete({ callId });
    });

    test('hold and resume (re-offers from either side) keep the ports, and audio flows again', async () => {
      const [a, b] = [await phone('holder'), await phone('held')];
      const callId = newCallId();
      const { toRelayFromA, toRelayFromB } = await connect(callId, a, b);
      await Promise.all([a.sendAudio(toRelayFromA, 10), b.sendAudio(toRelayFromB, 10)]);
      await until('audio before hold', () => a.numbersFrom(b).length >= 8 && b.numbersFrom(a).length >= 8);

      // A holds B: a=sendonly in A's re-offer, a=recvonly in B's answer.
      const hold = await t.engine.offer({ callId, fromTag: 'A', toTag: 'B', sdp: a.sdp({ direction: 'sendonly' }) });
      assert.match(hold, /a=sendonly/);
      assert.equal(mediaTarget(hold).port, toRelayFromB, 'the held phone keeps its relay port');
      const held = await t.engine.answer({ callId, fromTag: 'A', toTag: 'B', sdp: b.sdp({ direction: 'recvonly' }) });
      assert.match(held, /a=recvonly/);
      assert.equal(mediaTarget(held).port, toRelayFromA);

      // B resumes (a re-INVITE from the other side this time): B offers, A answers.
      const resume = await t.engine.offer({ callId, fromTag: 'B', toTag: 'A', sdp: b.sdp() });
      assert.match(resume, /a=sendrecv/);
      assert.equal(mediaTarget(resume).port, toRelayFromA, "the holder's port is unchanged");
      const resumed = await t.engine.answer({ callId, fromTag: 'B', toTag: 'A', sdp: a.sdp() });
      assert.equal(mediaTarget(resumed).port, toRelayFromB);
      await Promise.all([a.sendAudio(toRelayFromA, 20, { from: 50 }), b.sendAudio(toRelayFromB, 20, { from: 50 })]);
      await until('audio after resume', () => a.numbersFrom(b).filter((n) => n >= 50).length >= 15 && b.numbersFrom(a).filter((n) => n >= 50).length >= 15);
      await t.engine.delete({ callId });
    });

    test("a transfer: a new leg's offer reaches the transferee on its old port, and the old leg is let go", async () => {
      const [a, b, c] = [await phone('transferee'), await phone('transferer'), await phone('target')];
      const callId = newCallId();
      const { toRelayFromA, toRelayFromB } = await connect(callId, a, b);
      await Promise.all([a.sendAudio(toRelayFromA, 10), b.sendAudio(toRelayFromB, 10)]);
      await until('A and B talk', () => a.numbersFrom(b).length >= 8 && b.numbersFrom(a).length >= 8);
      // The new leg C was invited without SDP; its 200 carries the offer, the transferee's ACK the answer.
      const toA = await t.engine.offer({ callId, fromTag: 'C', toTag: 'A', sdp: c.sdp() });
      assert.equal(mediaTarget(toA).port, toRelayFromA, 'the transferee keeps sending where it did');
      const toC = await t.engine.answer({ callId, fromTag: 'C', toTag: 'A', sdp: a.sdp() });
      const toRelayFromC = mediaTarget(toC).port;
      await t.engine.delete({ callId, leg: { tag: 'B', peerTag: 'A' } });
      await becomesFree(toRelayFromB, "the old leg's port is free");
      await Promise.all([a.sendAudio(toRelayFromA, 30, { from: 100 }), c.sendAudio(toRelayFromC, 30)]);
      await until('A and C hear each other', () => c.numbersFrom(a).filter((n) => n >= 100).length >= 25 && a.numbersFrom(c).length >= 25);
      assert.deepEqual(
        b.numbersFrom(a).filter((n) => n >= 100),
        [],
        'the old leg hears nothing more',
      );
      await t.engine.delete({ callId });
    });

    test('delete frees every port of the call', async () => {
      const [a, b] = [await phone('x'), await phone('y')];
      const callId = newCallId();
      const { toRelayFromA, toRelayFromB } = await connect(callId, a, b);
      assert.equal(await portFree(toRelayFromA), false, 'held while the call lasts');
      await t.engine.delete({ callId });
      for (const p of [toRelayFromA, toRelayFromA + 1, toRelayFromB, toRelayFromB + 1]) await becomesFree(p, `port ${p} is free`);
      assert.equal(await t.engine.stats(callId), undefined, 'the engine no longer knows the call');
      await t.engine.delete({ callId }); // deleting again is harmless
    });

    test('statistics count what each phone sent and was sent', async () => {
      const [a, b] = [await phone('counted-a'), await phone('counted-b')];
      const callId = newCallId();
      const { toRelayFromA, toRelayFromB } = await connect(callId, a, b);
      const lostOnPurpose = new Set([5, 6, 20, 33, 40]);
      await Promise.all([a.sendAudio(toRelayFromA, 50, { skip: lostOnPurpose }), b.sendAudio(toRelayFromB, 30)]);
      // Until a phone has sent, the relay can only try its SDP address: the first packets may go nowhere.
      await until('the last packets arrived', () => b.numbersFrom(a).includes(49) && a.numbersFrom(b).includes(29));
      const stats = await t.engine.stats(callId);
      const legA = stats!.legs.find((l) => l.tag === 'A')!;
      const legB = stats!.legs.find((l) => l.tag === 'B')!;
      assert.equal(legA.received.packets, 45);
      assert.equal(legA.received.bytes, 45 * 172);
      assert.equal(legB.received.packets, 30);
      assert.equal(legA.sent.packets, 30, 'what reached A is what B sent');
      assert.equal(legB.sent.packets, 45);
      assert.deepEqual(legA.flowing, { fromPhone: true, toPhone: true });
      assert.ok(legA.received.lastPacketAt! > Date.now() - 5000 && legA.received.lastPacketAt! <= Date.now() + 1000);
      assert.match(legA.source!, /^127\.0\.0\.1:\d+$/, 'the latched source, not the SDP address');
      if (name === 'embedded') {
        assert.equal(legA.received.lost, 5, 'the five packets A never sent are counted lost');
        assert.equal(legB.received.lost, 0);
        assert.equal(typeof legA.received.jitterMs, 'number');
      } else {
        assert.equal(legA.received.lost, null, 'rtpengine 10.5 does not report loss per leg');
      }
      await t.engine.delete({ callId });
    });

    test('a leg that never sent counts as not flowing from its phone', async () => {
      const [a, b] = [await phone('talker'), await phone('mute')];
      const callId = newCallId();
      const { toRelayFromA } = await connect(callId, a, b);
      await a.sendAudio(toRelayFromA, 10);
      await until('A counted', async () => (await t.engine.stats(callId))!.legs.find((l) => l.tag === 'A')!.received.packets === 10);
      const legB = (await t.engine.stats(callId))!.legs.find((l) => l.tag === 'B')!;
      assert.deepEqual(legB.flowing, { fromPhone: false, toPhone: true });
      assert.equal(legB.received.lastPacketAt, null);
      assert.equal(legB.source, null);
      await t.engine.delete({ callId });
    });

    test('a stray source cannot take over a latched leg', async () => {
      const [a, b, stray] = [await phone('legit'), await phone('peer'), await phone('stray')];
      const callId = newCallId();
      const { toRelayFromA, toRelayFromB } = await connect(callId, a, b);
      await Promise.all([a.sendAudio(toRelayFromA, 10), b.sendAudio(toRelayFromB, 10)]);
      await until('latched both ways', () => b.numbersFrom(a).length >= 8 && a.numbersFrom(b).length >= 8);
      // The stray sends to A's relay port, as if it were A: its packets must not reach B,
      // and B's audio must keep going to the real A.
      await stray.sendAudio(toRelayFromA, 10);
      await b.sendAudio(toRelayFromB, 10, { from: 100 });
      await until("A keeps hearing B's later packets", () => a.numbersFrom(b).filter((n) => n >= 100).length >= 8);
      assert.equal(b.numbersFrom(stray).length, 0, "the stray's packets were dropped");
      assert.equal(stray.numbersFrom(b).length, 0, 'and nothing went to the stray');
      await t.engine.delete({ callId });
    });

    test('RTCP passes on port + 1, to where the other phone sends its own from', async () => {
      const [a, b] = [await phone('rtcp-a'), await phone('rtcp-b')];
      const callId = newCallId();
      const { toRelayFromA, toRelayFromB } = await connect(callId, a, b);
      await Promise.all([a.sendAudio(toRelayFromA, 5), b.sendAudio(toRelayFromB, 5)]);
      // Each phone's RTCP source is learned from its own RTCP; reports sent before that go to the
      // SDP's address (nowhere), so they are sent again, as phones do every few seconds.
      await until('each phone received the other’s RTCP report', () => {
        b.sendRtcp(toRelayFromB + 1);
        a.sendRtcp(toRelayFromA + 1);
        return b.receivedRtcp.some((p) => p.readUInt32BE(4) === a.ssrc) && a.receivedRtcp.some((p) => p.readUInt32BE(4) === b.ssrc);
      });
      await t.engine.delete({ callId });
    });

    test('DTMF (RFC 4733) passes through and is reported once per digit, naming the leg', async () => {
      const [a, b] = [await phone('dialer'), await phone('ivr')];
      const callId = newCallId();
      const { toRelayFromA, toRelayFromB } = await connect(callId, a, b);
      await Promise.all([a.sendAudio(toRelayFromA, 5), b.sendAudio(toRelayFromB, 5)]);
      await a.sendDtmf(toRelayFromA, 5);
      await a.sendDtmf(toRelayFromA, 11);
      await until('both digits reported', () => t.events.filter((e) => e.type === 'media.dtmf' && e.callId === callId).length >= 2);
      await until('the event packets reached B', () => b.received.filter((r) => r.pt === 101).length >= 4);
      // Whatever the engine does with repeats, each digit is reported once.
      await a.sendAudio(toRelayFromA, 5, { from: 10 });
      await until('later audio arrived', () => b.numbersFrom(a).some((n) => n >= 10));
      const digits = t.events.filter((e) => e.type === 'media.dtmf' && e.callId === callId);
      assert.deepEqual(
        digits.map((e) => [e.type === 'media.dtmf' && e.digit, e.type === 'media.dtmf' && e.tag]),
        [
          ['5', 'A'],
          ['#', 'A'],
        ],
      );
      await t.engine.delete({ callId });
    });
  });
}
