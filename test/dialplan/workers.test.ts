import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PooledDialplanRunner } from '../../server/dialplan/runner.ts';
import type { ExecutionResult } from '../../server/dialplan/types.ts';
import { fakeHost, heldDial, request, startRunner, until } from './helpers.ts';

function activePids(runner: PooledDialplanRunner): number[] {
  return runner
    .stats()
    .workers.filter((w) => w.state === 'active')
    .map((w) => w.pid ?? 0);
}

const ok = 'export default async function () { log("ok"); }';
const dialThenLog = 'export default async function () { const r = await dial("alice"); log(r.result); }';
const bomb = 'export default async function () { await store.get("k"); const a = new Array(35e6).fill(1.5); log(a.length); }';

describe('dialplan workers', () => {
  it('sends a source again when the worker has evicted it', async () => {
    const runner = await startRunner({ workers: 1 });
    try {
      // The worker keeps 16 Mi characters of prepared dialplans; 70 of 250 kB each push the first out,
      // while the dispatcher still believes the worker has it and sends only its hash.
      const padding = `\n// ${'x'.repeat(250_000)}`;
      const sourceOf = (n: number) => `export default async function () { log('dialplan ${n}'); }${padding}`;
      for (let n = 0; n < 70; n++) {
        const result = await runner.run(request('t-evict', sourceOf(n)), fakeHost('t-evict'));
        assert.equal(result.outcome, 'completed', JSON.stringify(result.error));
      }
      const again = await runner.run(request('t-evict', sourceOf(0)), fakeHost('t-evict'));
      assert.equal(again.outcome, 'completed', JSON.stringify(again.error));
      assert.deepEqual(
        again.logs.map((l) => l.message),
        ['dialplan 0'],
      );
    } finally {
      await runner.stop();
    }
  });

  it('a worker killed with SIGKILL is replaced; its execution runs again there, the other worker is untouched', async () => {
    const runner = await startRunner({ workers: 2 });
    try {
      const onFirst = heldDial();
      const onSecond = heldDial();
      const first = runner.run(request('t-k1', dialThenLog), fakeHost('t-k1', undefined, onFirst.dial));
      await onFirst.ringing;
      const second = runner.run(request('t-k2', dialThenLog), fakeHost('t-k2', undefined, onSecond.dial));
      await onSecond.ringing;
      const [victim, other] = runner.stats().workers;
      assert.equal(victim?.inFlight, 1);
      assert.equal(other?.inFlight, 1);
      process.kill(victim?.pid ?? 0, 'SIGKILL');
      await until('a replacement worker', () => activePids(runner).length === 2 && !activePids(runner).includes(victim?.pid ?? 0));
      onSecond.release();
      assert.equal((await second).outcome, 'completed');
      onFirst.release();
      const resumed = await first;
      assert.equal(resumed.outcome, 'completed', JSON.stringify(resumed.error));
      assert.deepEqual(
        resumed.logs.map((l) => l.message),
        ['answered'],
      );
      const later = await Promise.all([1, 2, 3, 4].map((i) => runner.run(request(`t-k${i}`, ok), fakeHost(`t-k${i}`))));
      assert.deepEqual(
        later.map((r) => r.outcome),
        ['completed', 'completed', 'completed', 'completed'],
      );
      assert.equal(runner.quarantined('t-k1'), null, 'killed from outside: nobody is blamed');
    } finally {
      await runner.stop();
    }
  });

  it('one huge allocation ends its worker: the execution on the other worker is unaffected, the culprit quarantined at once', async () => {
    const runner = await startRunner({ workers: 2 });
    try {
      const bystander = heldDial();
      const waiting = runner.run(request('t-good', dialThenLog), fakeHost('t-good', undefined, bystander.dial));
      await bystander.ringing;
      const first = await runner.run(request('t-evil', bomb), fakeHost('t-evil'));
      // Out of memory, or still running after disposal (V8's last-resort collections): see faults.test.ts.
      assert.ok(first.outcome === 'crashed' || first.outcome === 'timeout', JSON.stringify(first));
      bystander.release();
      assert.equal((await waiting).outcome, 'completed', 'the execution on the other worker is unaffected');
      const info = runner.quarantined('t-evil');
      assert.ok(info && info.until.getTime() > Date.now());
      assert.match(info.reason, /dialplan worker running it had to be ended/);
      const host = fakeHost('t-evil');
      const refused = await runner.run(request('t-evil', ok), host);
      assert.equal(refused.outcome, 'rejected');
      assert.match(refused.error?.message ?? '', /suspended until .*had to be ended/);
      assert.equal(host.logged[0]?.level, 'warn');
      assert.equal(runner.quarantined('t-good'), null);
      await until('the pool to recover', () => activePids(runner).length === 2);
      assert.equal((await runner.run(request('t-good', ok), fakeHost('t-good'))).outcome, 'completed');
      assert.deepEqual(
        runner.stats().quarantined.map((q) => q.tenantId),
        ['t-evil'],
      );
    } finally {
      await runner.stop();
    }
  });

  it('replaces a worker that stops answering health probes', async () => {
    const runner = await startRunner({ workers: 1, recycle: { probeIntervalMs: 50, probeTimeoutMs: 300 } });
    try {
      const [pid] = activePids(runner);
      process.kill(pid ?? 0, 'SIGSTOP');
      await until('the frozen worker to be replaced', () => activePids(runner).length === 1 && activePids(runner)[0] !== pid);
      assert.equal((await runner.run(request('t-p', ok), fakeHost('t-p'))).outcome, 'completed');
    } finally {
      await runner.stop();
    }
  });

  it('recycles workers under a steady load without losing or duplicating an execution', async () => {
    // A threshold below any real RSS makes every probe recycle its worker: the harshest churn.
    const runner = await startRunner({
      workers: 2,
      limits: { tenantConcurrency: 50, workerConcurrency: 8 },
      recycle: { rssBytes: 1, probeIntervalMs: 40 },
    });
    try {
      const invocations = new Map<string, number>();
      const total = 300;
      const pidsSeen = new Set<number>();
      const results: ExecutionResult[] = [];
      const source = 'export default async function (call) { await store.set("seen", call.id); const r = await dial("alice"); log(r.result); }';
      let next = 0;
      const lane = async () => {
        while (next < total) {
          const i = next++;
          const req = request(`t-load${i % 8}`, source);
          const host = fakeHost(req.tenantId, undefined, async () => {
            invocations.set(req.executionId, (invocations.get(req.executionId) ?? 0) + 1);
            await new Promise((r) => setTimeout(r, 2));
            return { answered: true, result: 'answered' };
          });
          for (const w of runner.stats().workers) if (w.pid) pidsSeen.add(w.pid);
          results.push(await runner.run(req, host));
        }
      };
      await Promise.all(Array.from({ length: 16 }, lane));
      assert.equal(results.length, total);
      assert.deepEqual(
        results.filter((r) => r.outcome !== 'completed').map((r) => [r.outcome, r.error?.message]),
        [],
      );
      assert.equal(invocations.size, total, 'every execution reached the host');
      assert.ok(
        [...invocations.values()].every((n) => n === 1),
        'no execution ran twice',
      );
      assert.ok(pidsSeen.size >= 4, `expected several generations of workers, saw ${pidsSeen.size} processes`);
    } finally {
      await runner.stop();
    }
  });
});
