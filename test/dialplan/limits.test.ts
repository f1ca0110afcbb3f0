import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { PooledDialplanRunner } from '../../server/dialplan/runner.ts';
import type { DialResult } from '../../server/dialplan/types.ts';
import { fakeHost, request, startRunner } from './helpers.ts';
import { silence } from '../helpers/time.ts';

/** A dial the test answers when it chooses. */
function heldDial() {
  let release!: (r: DialResult) => void;
  const answer = new Promise<DialResult>((resolve) => (release = resolve));
  let started!: () => void;
  const ringing = new Promise<void>((resolve) => (started = resolve));
  const dial = () => {
    started();
    return answer;
  };
  return { dial, ringing, release: () => release({ answered: false, result: 'busy' }) };
}

const ok = 'export default async function () { log("ok"); }';

/** CPU a process used so far, all threads (utime + stime from /proc, in clock ticks of 10 ms). */
function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

describe('dialplan limits', () => {
  let runner: PooledDialplanRunner;
  before(async () => {
    runner = await startRunner({
      workers: 1,
      limits: { firstDialMs: 600, absoluteMs: 3000, tenantConcurrency: 2, cpuMsPerSlice: 50, heapMb: 32, hostOpTimeoutMs: 300 },
    });
  });
  after(() => runner.stop());

  async function expectHealthy(tenantId: string) {
    const result = await runner.run(request(tenantId, ok), fakeHost(tenantId));
    assert.equal(result.outcome, 'completed');
  }

  it('stops a synchronous infinite loop', async () => {
    const inFunction = await runner.run(request('t-loop', 'export default async function () { for (;;) {} }'), fakeHost('t-loop'));
    assert.equal(inFunction.outcome, 'timeout');
    assert.match(inFunction.error?.message ?? '', /CPU budget exceeded: more than 50 ms/);
    assert.ok(inFunction.wallMs < 1000, `took ${inFunction.wallMs} ms`);
    const topLevel = await runner.run(request('t-loop', 'while (true) {}\nexport default async function () {}'), fakeHost('t-loop'));
    assert.equal(topLevel.outcome, 'timeout');
    await expectHealthy('t-loop');
  });

  it('stops an infinite loop after an await, even one that keeps calling the host or logging', async () => {
    const scripts = [
      'export default async function () { await store.get("k"); for (;;) {} }',
      'export default async function () { for (;;) await null; }',
      'export default async function () { for (;;) store.get("k"); }',
      'export default async function () { await dial("alice"); for (;;) log("spam"); }',
    ];
    for (const source of scripts) {
      const result = await runner.run(request('t-loop2', source), fakeHost('t-loop2'));
      assert.equal(result.outcome, 'timeout', source);
      assert.ok(result.wallMs < 2500, `${source} took ${result.wallMs} ms`);
      assert.ok(result.logs.length <= 200);
    }
    await expectHealthy('t-loop2');
  });

  it('never runs a busy loop a dialplan left waiting on a host call after its execution ended', async () => {
    const source = 'export default async function () { store.get("k").finally(() => { for (;;) {} }); }';
    const result = await runner.run(request('t-left', source), fakeHost('t-left'));
    assert.equal(result.outcome, 'completed');
    const pid = runner.stats().workers[0]?.pid ?? 0;
    const before = processCpuMs(pid);
    await silence(1000);
    const used = processCpuMs(pid) - before;
    assert.ok(used < 400, `the worker used ${used} ms of CPU in the second after the execution ended`);
    await expectHealthy('t-left');
  });

  it('ends gradual memory growth with the memory outcome and recovers', async () => {
    const source = `export default async function () {
      await dial('alice');
      const hoard = [];
      for (let round = 0; round < 10000; round++) {
        for (let i = 0; i < 2000; i++) hoard.push({ i, s: 'x'.repeat(64) + i });
        await store.get('k');
      }
    }`;
    const result = await runner.run(request('t-mem', source), fakeHost('t-mem'));
    assert.equal(result.outcome, 'memory', JSON.stringify(result));
    assert.match(result.error?.message ?? '', /memory limit exceeded \(32 MB\)/);
    await expectHealthy('t-mem');
  });

  it('times out a script awaiting forever, before its first dial and after it', async () => {
    const never = await runner.run(request('t-wait', 'export default async function () { await new Promise(() => {}); }'), fakeHost('t-wait'));
    assert.equal(never.outcome, 'timeout');
    assert.match(never.error?.message ?? '', /no dial within 600 ms/);
    assert.ok(never.wallMs >= 590 && never.wallMs < 1200, `took ${never.wallMs}`);

    const afterDial = await runner.run(request('t-wait', 'export default async function () { await dial("alice"); await new Promise(() => {}); }'), fakeHost('t-wait'));
    assert.equal(afterDial.outcome, 'timeout');
    assert.match(afterDial.error?.message ?? '', /wall time limit of 3000 ms/);

    // A host that never answers costs the script an error, not the engine a stuck execution.
    const stuckHost = fakeHost('t-wait');
    stuckHost.store.get = () => new Promise(() => {});
    const r = await runner.run(request('t-wait', 'export default async function () { await dial("a"); await store.get("k"); }'), stuckHost);
    assert.equal(r.outcome, 'error');
    assert.match(r.error?.message ?? '', /store.get timed out after 300 ms/);
    await expectHealthy('t-wait');
  });

  it('rejects a tenant over its concurrency cap at once, with a log line the tenant sees', async () => {
    const held = heldDial();
    const host = fakeHost('t-cap', undefined, held.dial);
    const source = 'export default async function () { const r = await dial("alice"); log(r.result); }';
    const running = [runner.run(request('t-cap', source), host), runner.run(request('t-cap', source), host)];
    await held.ringing;
    const rejectedHost = fakeHost('t-cap');
    const rejected = await runner.run(request('t-cap', source), rejectedHost);
    assert.equal(rejected.outcome, 'rejected');
    assert.match(rejected.error?.message ?? '', /2 dialplan executions already running for this tenant \(limit 2\)/);
    assert.deepEqual(
      rejectedHost.logged.map((l) => l.level),
      ['warn'],
    );
    assert.equal(rejected.logs[0]?.message, rejected.error?.message);
    await expectHealthy('t-other-tenant');
    held.release();
    assert.deepEqual(
      (await Promise.all(running)).map((r) => r.outcome),
      ['completed', 'completed'],
    );
    await expectHealthy('t-cap');
  });
});
