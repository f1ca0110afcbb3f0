import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { describe, it } from 'node:test';
import type { ExecutionResult } from '../../server/dialplan/types.ts';
import { fakeHost, request, startRunner } from './helpers.ts';

/** Rounds of 15 ms of work between awaited host calls: well inside a 50 ms slice, but busy. */
const legitimate = `export default async function () {
  for (let round = 0; round < 6; round++) {
    const until = Date.now() + 15;
    while (Date.now() < until) {}
    await store.get('k');
  }
}`;
const runaway = 'export default async function () { await store.get("k"); for (;;) {} }';

/** Processes that keep every core busy, so the worker's threads wait to be scheduled. */
function hogCpus(): ChildProcess[] {
  return Array.from({ length: os.cpus().length }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
}

describe('CPU watchdog under load', () => {
  it('spares legitimate work of many busy tenants on a saturated machine, and still stops a busy loop', async () => {
    const runner = await startRunner({
      workers: 1,
      limits: { cpuMsPerSlice: 50, tenantConcurrency: 3, workerConcurrency: 32, firstDialMs: 30_000 },
    });
    const hogs = hogCpus();
    try {
      const runs: ExecutionResult[] = [];
      for (let wave = 0; wave < 2; wave++) {
        const batch: Array<Promise<ExecutionResult>> = [];
        for (let t = 0; t < 10; t++) {
          for (let i = 0; i < 3; i++) batch.push(runner.run(request(`t-busy${t}`, legitimate), fakeHost(`t-busy${t}`)));
        }
        const loop = runner.run(request('t-runaway', runaway), fakeHost('t-runaway'));
        const stopped = await loop;
        assert.equal(stopped.outcome, 'timeout', JSON.stringify(stopped.error));
        assert.match(stopped.error?.message ?? '', /CPU budget exceeded/);
        runs.push(...(await Promise.all(batch)));
      }
      const killed = runs.filter((r) => r.outcome !== 'completed').map((r) => [r.outcome, r.error?.message]);
      assert.deepEqual(killed, [], `${killed.length} of ${runs.length} legitimate executions did not complete`);
    } finally {
      for (const hog of hogs) hog.kill('SIGKILL');
      await runner.stop();
    }
  });
});
