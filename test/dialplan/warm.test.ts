/**
 * Warm contexts: each (tenant, dialplan version) keeps contexts that serve many executions, so
 * module-level state survives between executions of one version, and only there. Each discard
 * rule is shown by that state starting over: after `warmExecutions` executions, after an idle
 * time, after an execution that failed (an error, a CPU overrun, a wall-time limit), when the
 * isolate's heap grows past its limit; a new version, another dialplan and another tenant start
 * from nothing. What belongs to one call (its facts, its host-operation and log-line counts, its
 * time zone) is fresh in every execution, and a worker death still runs an execution again
 * without acting twice, whatever module state the second run finds.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import type { PooledDialplanRunner } from '../../server/dialplan/runner.ts';
import type { ExecutionRequest, ExecutionResult } from '../../server/dialplan/types.ts';
import { WORKER_EXEC_ARGV } from '../../server/dialplan/workerProcess.ts';
import { baseCall, fakeHost, heldDial, request, startRunner, TenantStores, until } from './helpers.ts';

/** Counts its executions in a module-level variable; `call.to.user` picks a way to fail. */
const counter = `let runs = 0;
export default async function (call) {
  runs += 1;
  log(runs);
  await store.get('k');
  if (call.to.user === 'fail') throw new Error('failed on purpose');
  if (call.to.user === 'spin') for (;;) {}
  if (call.to.user === 'hang') await new Promise(() => {});
}`;

function to(user: string): Partial<ExecutionRequest> {
  return { call: { ...baseCall, to: { ...baseCall.to, user } } };
}

async function run(runner: PooledDialplanRunner, tenantId: string, overrides: Partial<ExecutionRequest> = {}, source = counter): Promise<ExecutionResult> {
  return runner.run(request(tenantId, source, overrides), fakeHost(tenantId));
}

/** The run count the execution saw, after asserting how it ended. */
async function runs(runner: PooledDialplanRunner, tenantId: string, overrides: Partial<ExecutionRequest> = {}, outcome = 'completed'): Promise<number> {
  const result = await run(runner, tenantId, overrides);
  assert.equal(result.outcome, outcome, JSON.stringify(result.error));
  return Number(result.logs[0]?.message);
}

async function sequence(runner: PooledDialplanRunner, tenantId: string, n: number, overrides: Partial<ExecutionRequest> = {}): Promise<number[]> {
  const seen = [];
  for (let i = 0; i < n; i++) seen.push(await runs(runner, tenantId, overrides));
  return seen;
}

async function discards(registry: Registry, reason: string): Promise<number> {
  const metric = await registry.getSingleMetric('dialplan_warm_context_discards_total')?.get();
  return metric?.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

describe('warm contexts', () => {
  it('keep module state between executions of one version: the reuse is real', async () => {
    const runner = await startRunner({ workers: 1 });
    try {
      assert.deepEqual(await sequence(runner, 't-reuse', 5), [1, 2, 3, 4, 5]);
    } finally {
      await runner.stop();
    }
  });

  it('are discarded after warmExecutions executions', async () => {
    const runner = await startRunner({ workers: 1, limits: { warmExecutions: 3 } });
    try {
      assert.deepEqual(await sequence(runner, 't-count', 7), [1, 2, 3, 1, 2, 3, 1]);
    } finally {
      await runner.stop();
    }
  });

  it('are discarded once idle for warmIdleMs', async () => {
    const registry = new Registry();
    const runner = await startRunner({ workers: 1, registry, limits: { warmIdleMs: 300 }, recycle: { probeIntervalMs: 50 } });
    try {
      assert.deepEqual(await sequence(runner, 't-idle', 2), [1, 2]);
      await until('the idle contexts to be discarded', async () => runner.stats().workers[0]?.warmContexts === 0 && (await discards(registry, 'idle')) > 0);
      assert.equal(await runs(runner, 't-idle'), 1);
    } finally {
      await runner.stop();
    }
  });

  it('are discarded after an execution in them failed: an error, a CPU overrun, a wall-time limit', async () => {
    const runner = await startRunner({ workers: 1, limits: { firstDialMs: 500, cpuMsPerSlice: 50 } });
    try {
      assert.deepEqual(await sequence(runner, 't-fail', 2), [1, 2]);
      assert.equal(await runs(runner, 't-fail', to('fail'), 'error'), 3);
      assert.equal(await runs(runner, 't-fail'), 1, 'after an error');

      assert.equal(await runs(runner, 't-fail'), 2);
      assert.equal(await runs(runner, 't-fail', to('spin'), 'timeout'), 3);
      assert.equal(await runs(runner, 't-fail'), 1, 'after a CPU overrun');

      assert.equal(await runs(runner, 't-fail'), 2);
      assert.equal(await runs(runner, 't-fail', to('hang'), 'timeout'), 3);
      assert.equal(await runs(runner, 't-fail'), 1, 'after the wall-time limit');
    } finally {
      await runner.stop();
    }
  });

  it("are discarded when their isolate's heap grows past warmHeapShare", async () => {
    const registry = new Registry();
    // Making the string takes tens of milliseconds on a busy machine: the CPU budget is not what is tested.
    const limits = { heapMb: 32, warmHeapShare: 0.2, cpuMsPerSlice: 1000 };
    const runner = await startRunner({ workers: 1, registry, limits, recycle: { probeIntervalMs: 50 } });
    try {
      // 10 MB of module state (a flat string), past a fifth of 32 MB: kept by the context, not by the execution.
      const source = `let runs = 0;
        let hoard = '';
        export default async function (call) {
          runs += 1;
          log(runs);
          if (call.to.user === 'grow') {
            hoard = 'x'.repeat(10 * 1024 * 1024);
            hoard.indexOf('y'); // flattens it: 10 MB in one piece
          }
          await store.get('k');
        }`;
      const runsOf = async (overrides: Partial<ExecutionRequest> = {}) => {
        const result = await run(runner, 't-heap', overrides, source);
        assert.equal(result.outcome, 'completed', JSON.stringify(result.error));
        return Number(result.logs[0]?.message);
      };
      assert.deepEqual([await runsOf(), await runsOf(), await runsOf(to('grow'))], [1, 2, 3]);
      await until('a discard for the heap', async () => (await discards(registry, 'heap')) > 0);
      assert.equal(await runsOf(), 1);
    } finally {
      await runner.stop();
    }
  });

  it('are never shared with another version, another dialplan or another tenant', async () => {
    const runner = await startRunner({ workers: 1 });
    try {
      const v1 = { dialplan: { name: 'default', version: 1, source: counter } };
      const v2 = { dialplan: { name: 'default', version: 2, source: counter } };
      const other = { dialplan: { name: 'night', version: 1, source: counter } };
      assert.deepEqual(await sequence(runner, 't-a', 2, v1), [1, 2]);
      assert.equal(await runs(runner, 't-a', v2), 1, 'a new version, same source');
      assert.equal(await runs(runner, 't-a', other), 1, 'another dialplan, same source');
      assert.equal(await runs(runner, 't-b', v1), 1, 'another tenant, same dialplan');
      assert.equal(await runs(runner, 't-a', v1), 3, 'the first version kept its own');
      const marker = 'export default async function () { log(typeof globalThis.mark); globalThis.mark = 1; }';
      const marks = [];
      for (const tenantId of ['t-a', 't-a', 't-b']) marks.push((await run(runner, tenantId, {}, marker)).logs[0]?.message);
      assert.deepEqual(marks, ['undefined', 'number', 'undefined']);
    } finally {
      await runner.stop();
    }
  });

  it('give every execution its own call facts, time zone, and host-operation and log-line counts', async () => {
    const runner = await startRunner({ workers: 1 });
    try {
      const source = `let runs = 0;
        export default async function (call) {
          runs += 1;
          for (let i = 0; i < 600; i++) await store.get('k');
          for (let i = 0; i < 150; i++) log('line', i);
          log(runs, call.from.user, globalThis.call.from.user, now().timeZone);
        }`;
      const results = [];
      for (const [user, timeZone] of [
        ['+111', 'America/New_York'],
        ['+222', 'Asia/Tokyo'],
      ] as const) {
        const overrides = { call: { ...baseCall, from: { ...baseCall.from, user } }, timeZone };
        results.push(await run(runner, 't-fresh', overrides, source));
      }
      assert.deepEqual(
        results.map((r) => [r.outcome, r.error?.message, r.logs.length, r.logs.at(-1)?.message]),
        [
          ['completed', undefined, 151, '1 +111 +111 America/New_York'],
          ['completed', undefined, 151, '2 +222 +222 Asia/Tokyo'],
        ],
      );
    } finally {
      await runner.stop();
    }
  });

  it('refuse call, dial and respond at the top level, which runs once for many calls', async () => {
    const runner = await startRunner({ workers: 1 });
    try {
      const refused = [];
      for (const what of ['call.from.user', "await dial('alice')", 'await respond(486)']) {
        const result = await run(runner, 't-top', {}, `const x = ${what};\nexport default async function () {}`);
        refused.push([result.outcome, result.error?.message, result.error?.line]);
      }
      const message = (what: string) => `Error: ${what} is not available at the top level of a dialplan, which runs once for many calls: use it inside the default function`;
      assert.deepEqual(refused, [
        ['error', message('call'), 1],
        ['error', message('dial'), 1],
        ['error', message('respond'), 1],
      ]);
      // The store and the log are not about one call: the top level may use them (a cache, say).
      const stores = new TenantStores();
      stores.of('t-top').set('greeting', 'hello');
      const cache = `const greeting = await store.get('greeting');\nlog('loaded');\nexport default async function (call) { log(greeting, call.to.user); }`;
      const logs = [];
      for (let i = 0; i < 2; i++) logs.push((await runner.run(request('t-top', cache), fakeHost('t-top', stores))).logs.map((l) => l.message));
      assert.deepEqual(logs, [['loaded', 'hello alice'], ['hello alice']]);
    } finally {
      await runner.stop();
    }
  });

  it('run again from the journal after a worker death, even when module state makes the second run read more', async () => {
    const runner = await startRunner({ workers: 1, quarantine: { crashes: 1 } });
    try {
      const source = `let route;
        export default async function () {
          route ??= await store.get('route');
          log('route ' + route);
          const r = await dial(route);
          log('after ' + r.result);
        }`;
      const stores = new TenantStores();
      stores.of('t-cache').set('route', 'alice');
      const first = await runner.run(
        request('t-cache', source),
        fakeHost('t-cache', stores, async () => ({ answered: true, result: 'answered' })),
      );
      assert.equal(first.outcome, 'completed', JSON.stringify(first.error));
      // Warm now: this run reads nothing, rings, and its worker dies; the run on the new worker starts
      // in a context of its own, where the route is read again.
      const dial = heldDial();
      const host = fakeHost('t-cache', stores, dial.dial);
      const result = runner.run(request('t-cache', source), host);
      await dial.ringing;
      assert.deepEqual(host.calls, ['dial']);
      const [pid] = runner.stats().workers.map((w) => w.pid ?? 0);
      process.kill(pid ?? 0, 'SIGKILL');
      await until('the read of the second run', () => host.calls.length === 2);
      dial.release();
      const r = await result;
      assert.equal(r.outcome, 'completed', JSON.stringify(r.error));
      assert.deepEqual(host.calls, ['dial', 'store.get'], 'the dial happened once; the read is harmless');
      assert.deepEqual(
        r.logs.map((l) => l.message),
        ['route alice', 'after answered'],
      );
      assert.equal(runner.quarantined('t-cache'), null);
    } finally {
      await runner.stop();
    }
  });
});

describe('an ended execution in a warm context', () => {
  it('never runs again, not even when a reply to it arrives while the next execution runs there', async () => {
    // Driven in a process of its own, with the workers' flags, so that the test decides when each
    // host call is answered (fixtures/leftover.ts prints what each execution saw).
    const fixture = fileURLToPath(new URL('./fixtures/leftover.ts', import.meta.url));
    const child = spawn(process.execPath, [...WORKER_EXEC_ARGV, fixture], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, out);
    const seen = JSON.parse(out) as { first: unknown; second: unknown };
    assert.deepEqual(seen.first, { outcome: 'completed', calls: ['store.get ["slow"]'], logs: [], callsAfterEnd: [] });
    assert.deepEqual(seen.second, { outcome: 'completed', calls: ['store.get ["mine"]'], logs: ['second run 2 got answer'] });
  });
});
