/**
 * Faults that end a worker process, and who pays for them: the tenant whose code caused one is
 * quarantined, every other tenant's execution that was on that worker runs again on a healthy one
 * without repeating what it already did (a ringing dial keeps ringing), and nobody is blamed for a
 * worker that the operator or the kernel killed. Also: a dialplan waiting on the host is never
 * charged for work the worker does on its isolate meanwhile.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PooledDialplanRunner } from '../../server/dialplan/runner.ts';
import type { DialResult } from '../../server/dialplan/types.ts';
import { fakeHost, heldDial, request, startRunner, TenantStores, until } from './helpers.ts';

/** Logs, writes, rings, logs again: every kind of effect a second run must not repeat. */
const bystander = `export default async function (call) {
  log('before');
  await store.set('seen', call.id);
  const r = await dial('alice');
  log('after ' + r.result);
}`;
const bomb = 'export default async function () { const a = new Array(35e6).fill(1.5); log(a.length); }';
/**
 * V8 compiles and runs a regular expression in native code that disposing the isolate does not
 * stop (parsing the pattern can be interrupted: it happens before the await, in its own slice).
 */
const regex = `export default async function () {
  const n = 25000;
  const re = new RegExp('(a)'.repeat(n));
  const input = 'a'.repeat(n);
  await store.get('k');
  re.exec(input);
  log('finished');
}`;

function workerPids(runner: PooledDialplanRunner): number[] {
  return runner.stats().workers.map((w) => w.pid ?? 0);
}

/** Starts the bystander on a dial that rings until released; resolves once it rings. */
async function ringingBystander(runner: PooledDialplanRunner, tenantId: string) {
  const dial = heldDial();
  const host = fakeHost(tenantId, undefined, dial.dial);
  const result = runner.run(request(tenantId, bystander), host);
  await dial.ringing;
  return { dial, host, result };
}

async function assertRanOnce(b: Awaited<ReturnType<typeof ringingBystander>>) {
  const r = await b.result;
  assert.equal(r.outcome, 'completed', JSON.stringify(r.error));
  assert.deepEqual(b.host.calls, ['store.set', 'dial'], 'each host operation happened once');
  assert.deepEqual(
    b.host.logged.map((l) => l.message),
    ['before', 'after answered'],
    'no log line twice',
  );
  assert.deepEqual(
    r.logs.map((l) => l.message),
    ['before', 'after answered'],
  );
  assert.deepEqual(
    r.actions.map((a) => a.type),
    ['store.set', 'dial'],
  );
}

describe('faults that end a dialplan worker', () => {
  it("one tenant's abort of a shared worker costs no other tenant its call; the culprit is quarantined at once", async () => {
    const runner = await startRunner({ workers: 1 });
    try {
      const other = await ringingBystander(runner, 't-bystander');
      const [pid] = workerPids(runner);
      const crashed = await runner.run(request('t-bomb', bomb), fakeHost('t-bomb'));
      // Which comes first depends on scheduling: V8 giving up on the isolate (out of memory), or
      // the watchdog finding it still running 100 ms of CPU after disposing it (V8's last-resort
      // garbage collections cannot be interrupted). Either way the worker must go.
      const why = /out.of.memory|CPU budget exceeded.*could not be interrupted/i;
      assert.ok(crashed.outcome === 'crashed' || crashed.outcome === 'timeout', JSON.stringify(crashed));
      assert.match(crashed.error?.message ?? '', why);
      assert.ok(!workerPids(runner).includes(pid ?? 0), 'the worker was ended');

      const held = runner.quarantined('t-bomb');
      assert.ok(held && held.until.getTime() > Date.now(), 'quarantined after its first abort');
      assert.match(held.reason, /out.of.memory|CPU budget/i);
      const refused = await runner.run(request('t-bomb', 'export default async function () {}'), fakeHost('t-bomb'));
      assert.deepEqual([refused.outcome, refused.refusal], ['rejected', 'suspended']);

      other.dial.release();
      await assertRanOnce(other);
      assert.equal(runner.quarantined('t-bystander'), null);
    } finally {
      await runner.stop();
    }
  });

  it('a regular expression that runs on in native code is ended from outside, near the budget; the others carry on', async () => {
    // A budget that parsing the pattern fits in, so that the overrun is the match itself.
    const runner = await startRunner({ workers: 1, limits: { cpuMsPerSlice: 200 } });
    try {
      const other = await ringingBystander(runner, 't-bystander');
      const [pid] = workerPids(runner);
      const stopped = await runner.run(request('t-regex', regex), fakeHost('t-regex'));
      assert.equal(stopped.outcome, 'timeout', JSON.stringify(stopped.error));
      assert.match(stopped.error?.message ?? '', /CPU budget exceeded: more than 200 ms without yielding, in code that could not be interrupted/);
      assert.ok(!workerPids(runner).includes(pid ?? 0), 'the worker was ended to stop it');
      assert.match(runner.quarantined('t-regex')?.reason ?? '', /CPU budget/);
      // Left alone, the match runs 4-19 s (measured, idle to busy machine); ended, the budget and two more.
      assert.ok(stopped.wallMs < 3000, `ran ${Math.round(stopped.wallMs)} ms`);
      other.dial.release();
      await assertRanOnce(other);
    } finally {
      await runner.stop();
    }
  });

  it('a worker killed by the operator or the kernel blames nobody; its executions resume elsewhere', async () => {
    const runner = await startRunner({ workers: 2, quarantine: { crashes: 1 } });
    try {
      const other = await ringingBystander(runner, 't-innocent');
      const victim = runner.stats().workers.find((w) => w.inFlight === 1);
      assert.ok(victim?.pid);
      process.kill(victim.pid, 'SIGKILL');
      await until('the execution to run again on another worker', () => runner.stats().workers.some((w) => w.pid !== victim.pid && w.inFlight === 1));
      other.dial.release();
      await assertRanOnce(other);
      assert.equal(runner.quarantined('t-innocent'), null, 'killed from outside: not its fault');
    } finally {
      await runner.stop();
    }
  });

  it('a death nobody explains blames only tenants whose code was running then, not those waiting on the host', async () => {
    const runner = await startRunner({ workers: 1, quarantine: { crashes: 1 } });
    try {
      const other = await ringingBystander(runner, 't-waiting');
      const [pid] = workerPids(runner);
      process.kill(pid ?? 0, 'SIGSEGV');
      await until('the execution to run again', () => runner.stats().workers.some((w) => w.pid !== pid && w.inFlight === 1));
      other.dial.release();
      await assertRanOnce(other);
      assert.equal(runner.quarantined('t-waiting'), null);
    } finally {
      await runner.stop();
    }
  });

  it('an execution that does something else when run again fails without blame, and its dial is cancelled', async () => {
    const runner = await startRunner({ workers: 1, quarantine: { crashes: 1 } });
    try {
      const dial = heldDial();
      const host = fakeHost('t-random', undefined, dial.dial);
      const source = "export default async function () { await dial('alice', { callerId: 'c' + Math.random().toString(36).slice(2, 12) }); }";
      const result = runner.run(request('t-random', source), host);
      await dial.ringing;
      process.kill(workerPids(runner)[0] ?? 0, 'SIGKILL');
      const r = await result;
      assert.equal(r.outcome, 'crashed');
      assert.match(r.error?.message ?? '', /ran again .* dial/);
      await dial.cancelled;
      assert.equal(host.dials.length, 1);
      assert.equal(runner.quarantined('t-random'), null);
    } finally {
      await runner.stop();
    }
  });

  it('an execution that read more than its journal keeps is not run again, and fails without blame', async () => {
    const runner = await startRunner({ workers: 1, quarantine: { crashes: 1 } });
    try {
      const dial = heldDial();
      const stores = new TenantStores();
      stores.of('t-reader').set('big', 'x'.repeat(120_000));
      const host = fakeHost('t-reader', stores, dial.dial);
      const source = "export default async function () { for (let i = 0; i < 10; i++) await store.get('big'); await dial('alice'); }";
      const result = runner.run(request('t-reader', source), host);
      await dial.ringing;
      process.kill(workerPids(runner)[0] ?? 0, 'SIGKILL');
      const r = await result;
      assert.equal(r.outcome, 'crashed');
      assert.match(r.error?.message ?? '', /read too much to be run again/);
      await dial.cancelled;
      assert.equal(runner.quarantined('t-reader'), null);
    } finally {
      await runner.stop();
    }
  });

  it('a refusal says why: the tenant limit (a suspended tenant: see the first test)', async () => {
    const runner = await startRunner({ workers: 1, limits: { tenantConcurrency: 1 } });
    try {
      const other = await ringingBystander(runner, 't-busy');
      const limited = await runner.run(request('t-busy', bystander), fakeHost('t-busy'));
      assert.deepEqual([limited.outcome, limited.refusal], ['rejected', 'tenant_limit']);
      other.dial.release();
      await other.result;
    } finally {
      await runner.stop();
    }
  });
});

describe('CPU budget while a dialplan waits', () => {
  it('never ends a dialplan that only waits on a ringing dial, however long it rings', async () => {
    // A 5 ms budget: the worker's own work on the isolate (heap samples every 100 ms, spare
    // contexts) used to reach it within ~2.5 s of waiting; at 50 ms, within 30-60 s.
    const runner = await startRunner({ workers: 1, limits: { cpuMsPerSlice: 5, firstDialMs: 30_000 } });
    try {
      const ringsFor = (ms: number) => () => new Promise<DialResult>((resolve) => setTimeout(() => resolve({ answered: true, result: 'answered' }), ms));
      const source = "export default async function () { const r = await dial('alice', { timeout: 120 }); log(r.result); }";
      const results = await Promise.all([0, 1, 2].map(() => runner.run(request('t-ringing', source), fakeHost('t-ringing', undefined, ringsFor(6000)))));
      assert.deepEqual(
        results.map((r) => [r.outcome, r.error?.message]),
        Array(3).fill(['completed', undefined]),
      );
      // The budget still holds for code that does not yield.
      const loop = await runner.run(request('t-ringing', 'export default async function () { await dial("alice"); for (;;) {} }'), fakeHost('t-ringing'));
      assert.equal(loop.outcome, 'timeout');
    } finally {
      await runner.stop();
    }
  });
});
