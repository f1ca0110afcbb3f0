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
import { startPhone, type Phone } from '../helpers/baresipPhone.ts';
import { startSipNat, type SipNat } from '../helpers/sipNat.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { elapse, eventually } from '../helpers/time.ts';
import { detectTone, readWav } from '../helpers/tone.ts';
import { skipWithout, waitFor } from '../interop/tools.ts';
import { dialplanSource, EventLog, newTenant, recordOf } from '../calls/harness.ts';
import { skipEngine } from './engines.ts';

const ALICE_HZ = 440;
const BOB_HZ = 880;
/** Audio each phone must have recorded before the call is judged. */
const LISTEN_SECONDS = 3;

const noBaresip = skipWithout('baresip', 'baresip');

const CASES = [
  { engine: 'embedded', ports: [32000, 32099], skip: false },
  { engine: 'rtpengine', ports: [32100, 32199], skip: skipEngine('rtpengine') },
  { engine: 'direct', ports: [32200, 32299], skip: false },
] as const;

interface NatCall {
  sw: TestSwitch;
  alice: Phone;
  bob: Phone;
  log: EventLog;
  tenant: Awaited<ReturnType<typeof newTenant>>;
  nats: SipNat[];
}

/** Two phones behind NATs, registered; alice calls bob, bob answers; resolves once both are in the call. */
async function natCall(engine: string, ports: readonly [number, number], dir: string, cleanups: Array<() => Promise<void>>): Promise<NatCall> {
  const sw = await startTestSwitch('sqlite', { env: { MEDIA_ENGINE: engine, MEDIA_PORT_MIN: String(ports[0]), MEDIA_PORT_MAX: String(ports[1]) } });
  cleanups.push(() => sw.close());
  const tenant = await newTenant(sw);
  const log = new EventLog(sw, tenant.id);
  cleanups.push(async () => log.stop());
  await tenant.dialplan('default', dialplanSource('  await dial(call.to.user, { timeout: 15 });'));
  const [aliceAccount, bobAccount] = [await tenant.account(), await tenant.account()];
  const nats = [await startSipNat(sw.sipPort), await startSipNat(sw.sipPort)];
  cleanups.push(async () => void (await Promise.all(nats.map((n) => n.close()))));
  const alice = await startPhone(dir, 'alice', aliceAccount, { answer: 'manual', outboundPort: nats[0]!.port, tone: ALICE_HZ });
  const bob = await startPhone(dir, 'bob', bobAccount, { answer: 'auto', outboundPort: nats[1]!.port, tone: BOB_HZ });
  for (const p of [alice, bob])
    cleanups.push(async () => {
      p.close();
      await p.stop();
    });
  const registered = async () => {
    const names = ((await tenant.api.get('/registrations')).body.items as Array<{ username: string }>).map((x) => x.username);
    return names.includes(aliceAccount.username) && names.includes(bobAccount.username);
  };
  await waitFor('both phones registered', 15_000, async () => (await registered()) || undefined);
  const dialled = await alice.command('dial', `sip:${bobAccount.username}@127.0.0.1`);
  assert.ok(dialled.ok, `dial accepted: ${JSON.stringify(dialled)}`);
  const up = (p: Phone) => waitFor(`${p.name}: call established`, 15_000, async () => (p.events.some((e) => e.type === 'CALL_ESTABLISHED') ? true : undefined));
  await Promise.all([up(alice), up(bob)]).catch((err: Error) => {
    throw new Error(`${err.message}\nswitch events:\n${log.summary().join('\n')}\nalice:\n${alice.output().slice(-2000)}\nbob:\n${bob.output().slice(-2000)}`);
  });
  return { sw, alice, bob, log, tenant, nats };
}

/** The share of `phone`'s recording (past its first second) that holds `hz`. */
function heard(phone: Phone, hz: number): { share: number; seconds: number } {
  const file = phone.received();
  if (!file) return { share: 0, seconds: 0 };
  const wav = readWav(file);
  const skip = wav.sampleRate; // the first second: the call settling, latching
  const report = detectTone({ ...wav, samples: wav.samples.subarray(skip) }, hz);
  return { share: report.windows ? report.withTone / report.windows : 0, seconds: report.seconds };
}

const recordedSeconds = (p: Phone) => {
  const file = p.received();
  return file ? readWav(file).samples.length / readWav(file).sampleRate : 0;
};

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
      const c = await natCall(engine, ports, dir, cleanups);
      assert.ok(
        c.nats.every((n) => n.rewritten > 0),
        'both phones named an unreachable address in their SDP',
      );
      // Each phone's recording grows as it hears: wait until both have enough to judge.
      await eventually(
        `${LISTEN_SECONDS + 1} s recorded by both phones`,
        () => recordedSeconds(c.alice) > LISTEN_SECONDS + 1 && recordedSeconds(c.bob) > LISTEN_SECONDS + 1,
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
    const c = await natCall(engine, ports, dir, cleanups);
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
