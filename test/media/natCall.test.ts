/**
 * Audio behind NAT, end to end: two real phones (baresip) call each other through the switch,
 * each behind a NAT (../helpers/sipNat.ts) that rewrites its SDP to an address where nothing
 * listens (127.0.0.99), as a phone behind a home router names its private address. Alice's
 * microphone is a 440 Hz tone, Bob's 880 Hz; each phone records what it hears. Through the relay
 * (embedded, rtpengine) each hears the other's tone, and the call record says audio flowed both
 * ways on both legs. With MEDIA_ENGINE=direct the same call carries no audio at all: that is what
 * proves the relay does the work. Media ports 32000–32299 (other tests use 30000–31999).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { Phone } from '../helpers/baresipPhone.ts';
import { elapse, eventually } from '../helpers/time.ts';
import { detectTone, readWav } from '../helpers/tone.ts';
import { skipWithout } from '../interop/tools.ts';
import { recordOf } from '../calls/harness.ts';
import { skipEngine } from './engines.ts';
import { ALICE_HZ, BOB_HZ, natCall, type NatCall } from './phoneCall.ts';
/** Audio each phone must have recorded before the call is judged. */
const LISTEN_SECONDS = 3;

const noBaresip = skipWithout('baresip', 'baresip');

const CASES = [
  { engine: 'embedded', ports: [32000, 32099], skip: false },
  { engine: 'rtpengine', ports: [32100, 32199], skip: skipEngine('rtpengine') },
  { engine: 'direct', ports: [32200, 32299], skip: false },
] as const;

/** The share of `phone`'s recording (past its first second) that holds `hz`. */
function heard(phone: Phone, hz: number): { share: number; seconds: number } {
  const file = phone.received();
  if (!file) return { share: 0, seconds: 0 };
  const wav = readWav(file);
  const skip = wav.sampleRate; // the first second: the call settling, latching
  const report = detectTone({ ...wav, samples: wav.samples.subarray(skip) }, hz);
  return { share: report.windows ? report.withTone / report.windows : 0, seconds: report.seconds };
}

async function hangUp(c: NatCall): Promise<void> {
  assert.ok((await c.alice.command('hangup')).ok);
  await c.log.ended();
}

describe('a call between two phones behind NAT', { skip: noBaresip, timeout: 120_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sipswitch-nat-call-'));
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    if (!process.env.KEEP_TRACES) rmSync(dir, { recursive: true, force: true });
  });

  for (const { engine, ports, skip } of CASES.filter((c) => c.engine !== 'direct')) {
    test(`${engine}: each phone hears the other's tone, and the record says audio flowed both ways`, { skip }, async () => {
      const c = await natCall({ engine, ports, dir, cleanups });
      assert.ok(
        c.nats.every((n) => n.rewritten > 0),
        'both phones named an unreachable address in their SDP',
      );
      // Each phone's recording grows as it hears: wait until both have enough to judge.
      await eventually(
        `${LISTEN_SECONDS + 1} s recorded by both phones`,
        () => c.alice.recordedSeconds() > LISTEN_SECONDS + 1 && c.bob.recordedSeconds() > LISTEN_SECONDS + 1,
        20_000,
        200,
      );
      const aliceHeard = heard(c.alice, BOB_HZ);
      const bobHeard = heard(c.bob, ALICE_HZ);
      assert.ok(aliceHeard.share > 0.8, `alice heard bob's ${BOB_HZ} Hz in ${Math.round(aliceHeard.share * 100)} % of ${aliceHeard.seconds.toFixed(1)} s`);
      assert.ok(bobHeard.share > 0.8, `bob heard alice's ${ALICE_HZ} Hz in ${Math.round(bobHeard.share * 100)} % of ${bobHeard.seconds.toFixed(1)} s`);
      // Not its own tone fed back: what alice hears is bob's, not hers.
      assert.ok(heard(c.alice, ALICE_HZ).share < 0.1, 'alice does not hear her own tone');

      await hangUp(c);
      const cdr = await recordOf(c.sw, c.tenant, c.log.events[0]!.callId);
      assert.equal(cdr.legs.length, 2);
      for (const leg of cdr.legs) {
        const q = leg.media?.quality;
        assert.ok(q, `leg ${leg.direction} has audio figures`);
        assert.deepEqual(q.flowing, { fromPhone: true, toPhone: true }, `leg ${leg.direction}: audio both ways`);
        // 50 packets/s for more than LISTEN_SECONDS.
        assert.ok(q.fromPhone.packets > LISTEN_SECONDS * 50 && q.toPhone.packets > LISTEN_SECONDS * 50, `leg ${leg.direction}: ${JSON.stringify(q)}`);
        assert.equal(leg.media?.silentSince, null);
        if (engine === 'embedded') assert.equal(q.fromPhone.lost, 0, `leg ${leg.direction}: nothing lost on loopback`);
      }
    });
  }

  test('direct media: the same call carries no audio (the phones send to the addresses their NATs made up)', async () => {
    const { engine, ports } = CASES[2];
    const c = await natCall({ engine, ports, dir, cleanups });
    // Time is the input here: as long as the relayed calls listened, and nothing must arrive.
    await elapse((LISTEN_SECONDS + 1) * 1000);
    const aliceHeard = heard(c.alice, BOB_HZ);
    const bobHeard = heard(c.bob, ALICE_HZ);
    assert.equal(aliceHeard.share, 0, `alice heard nothing of bob (${aliceHeard.seconds.toFixed(1)} s recorded)`);
    assert.equal(bobHeard.share, 0, `bob heard nothing of alice (${bobHeard.seconds.toFixed(1)} s recorded)`);
    await hangUp(c);
    const cdr = await recordOf(c.sw, c.tenant, c.log.events[0]!.callId);
    assert.ok(
      cdr.legs.every((l) => l.media === undefined),
      'no relay, no audio figures',
    );
  });
});
