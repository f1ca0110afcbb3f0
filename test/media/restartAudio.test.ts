/**
 * A call's audio survives a restart of the switch: two real phones behind NATs talk through the
 * relay, the switch stops (its live calls persisted) and starts again, and each phone hears the
 * other's tone again after it; the call then ends normally and its record is complete. The
 * embedded relay binds the same ports again with the same pairing; rtpengine, started by the
 * switch in a process group of its own, is left running for the next start to adopt.
 * Media ports 32500–32699.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { Phone } from '../helpers/baresipPhone.ts';
import { eventually } from '../helpers/time.ts';
import { detectTone, readWav } from '../helpers/tone.ts';
import { skipWithout } from '../interop/tools.ts';
import { EventLog, recordOf } from '../calls/harness.ts';
import { skipEngine } from './engines.ts';
import { ALICE_HZ, BOB_HZ, natCall } from './phoneCall.ts';

const CASES = [
  { engine: 'embedded', ports: [32500, 32599], skip: false },
  { engine: 'rtpengine', ports: [32600, 32699], skip: skipEngine('rtpengine') },
] as const;

/** The share of the last `seconds` of `phone`'s recording that holds `hz`. */
function lastHeard(phone: Phone, hz: number, seconds: number): number {
  const wav = readWav(phone.received()!);
  const report = detectTone({ ...wav, samples: wav.samples.subarray(Math.max(0, wav.samples.length - seconds * wav.sampleRate)) }, hz);
  return report.windows ? report.withTone / report.windows : 0;
}

describe("a call's audio across a restart of the switch", { skip: skipWithout('baresip', 'baresip'), timeout: 120_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sipswitch-restart-audio-'));
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    if (!process.env.KEEP_TRACES) rmSync(dir, { recursive: true, force: true });
  });

  for (const { engine, ports, skip } of CASES) {
    test(`${engine}: both phones hear each other again after the restart`, { skip }, async () => {
      const c = await natCall({ engine, ports, dir, cleanups });
      await eventually('audio both ways', () => c.alice.recordedSeconds() > 2 && c.bob.recordedSeconds() > 2, 15_000, 100);
      assert.ok(lastHeard(c.alice, BOB_HZ, 1) > 0.8 && lastHeard(c.bob, ALICE_HZ, 1) > 0.8, 'audio flows before the restart');

      const callId = c.log.events[0]!.callId;
      await eventually('the call persisted with its media', async () => {
        const rows = await c.sw.running.store.liveCalls.forNode('test-node');
        return rows.some((r) => r.callId === callId && (r.state as { media?: unknown }).media !== undefined);
      });
      let keptPid: number | undefined;
      await c.sw.restart(undefined, async () => {
        if (engine !== 'rtpengine') return;
        // Stopped with a live call: the daemon it started is left running for the next start.
        const kept = JSON.parse(readFileSync(path.join(c.sw.db.dir, 'rtpengine.json'), 'utf8')) as { pid: number };
        keptPid = kept.pid;
        process.kill(kept.pid, 0); // throws if it is gone
      });
      if (keptPid !== undefined) assert.equal(Number(readFileSync(path.join(c.sw.db.dir, 'rtpengine.pid'), 'utf8').split('\n')[0]), keptPid, 'the same daemon, taken over');
      // The restarted switch has a bus of its own, and its portal a new port.
      c.tenant.api.baseUrl = c.sw.httpUrl;
      const resumed = new EventLog(c.sw, c.tenant.id);
      cleanups.push(async () => resumed.stop());
      const [aliceThen, bobThen] = [c.alice.recordedSeconds(), c.bob.recordedSeconds()];
      await eventually('3 s more recorded', () => c.alice.recordedSeconds() > aliceThen + 3 && c.bob.recordedSeconds() > bobThen + 3, 20_000, 100);
      const [alice, bob] = [lastHeard(c.alice, BOB_HZ, 2), lastHeard(c.bob, ALICE_HZ, 2)];
      assert.ok(alice > 0.8, `after the restart alice hears bob in ${Math.round(alice * 100)} % of the last 2 s`);
      assert.ok(bob > 0.8, `after the restart bob hears alice in ${Math.round(bob * 100)} % of the last 2 s`);

      assert.ok((await c.alice.command('hangup')).ok);
      await resumed.ended();
      const cdr = await recordOf(c.sw, c.tenant, callId);
      assert.equal(cdr.status, 'answered');
      assert.equal(cdr.hangupCause, 'normal');
      for (const leg of cdr.legs) assert.deepEqual(leg.media?.quality?.flowing, { fromPhone: true, toPhone: true }, `leg ${leg.direction}: audio both ways`);
    });
  }
});
