/**
 * What isolated-vm alone does on this machine, as the floor under bench/dialplan.ts:
 * `npx tsx bench/isolateFloor.ts`. The same per-execution isolate work as a dialplan execution,
 * with 8 tenant isolates in one process, but none of the engine around it: no worker processes,
 * no IPC, no dispatcher, no watchdog, no prelude. The engine can only be slower; where this misses
 * an aim, no dispatching will meet it. Two ways, as the engine has run them:
 *
 * - fresh: a context made ahead for each execution, the values handed in through a global, a
 *   compiled script run in it, one awaited async host call, the context released;
 * - warm: a context per tenant kept for every execution (as the engine's warm contexts), its
 *   `start` function applied with a new host Reference and the call facts, one awaited async host
 *   call, the Reference released.
 *
 * Runs with the dialplan workers' V8 flags (it starts itself again with them when they are missing).
 * PACED_RATE=n sets the paced rate (default 2000/s); MODES=warm (or fresh) runs one way only.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import ivm from 'isolated-vm';
import { WORKER_EXEC_ARGV } from '../server/dialplan/workerProcess.ts';
import { paced, percentile, saturate } from './lib/load.ts';

if (!WORKER_EXEC_ARGV.every((flag) => process.execArgv.includes(flag))) {
  const child = spawn(process.execPath, [...WORKER_EXEC_ARGV, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  process.exitCode = await new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
} else {
  await measure();
}

async function measure(): Promise<void> {
  const TENANTS = 8;
  const CONCURRENCY = 64;
  const SATURATE_MS = 5000;
  const PACED_MS = 5000;
  const rate = Number(process.env.PACED_RATE ?? 2000);
  const modes = (process.env.MODES ?? 'fresh,warm').split(',');

  const storeGet = async (key: string) => (key === 'blocked:nobody' ? 'yes' : null);
  const hostCallOptions = '{ arguments: { copy: true }, result: { promise: true, copy: true } }';
  const fresh = `(async () => {
    const [host, call] = globalThis.$in;
    delete globalThis.$in;
    const blocked = await host.apply(undefined, ['blocked:' + call.from], ${hostCallOptions});
    return blocked ? 403 : 0;
  })()`;
  const warm = `(function start(host, call) {
    return (async () => {
      const blocked = await host.apply(undefined, ['blocked:' + call.from], ${hostCallOptions});
      return blocked ? 403 : 0;
    })();
  })`;

  const tenants = await Promise.all(
    Array.from({ length: TENANTS }, async () => {
      const isolate = new ivm.Isolate({ memoryLimit: 32 });
      const script = await isolate.compileScript(fresh);
      const context = await isolate.createContext();
      const start = await (await isolate.compileScript(warm)).run(context, { reference: true });
      return { isolate, script, spare: isolate.createContext(), start };
    }),
  );

  let seq = 0;
  const once = {
    async fresh(): Promise<void> {
      const tenant = tenants[seq++ % TENANTS]!;
      const context = await tenant.spare;
      tenant.spare = tenant.isolate.createContext();
      // As the worker did: a Reference per execution, handed in with the call facts in one task.
      const host = new ivm.Reference(storeGet);
      context.global.setIgnored('$in', [host, { from: '+4930111' }], { copy: true });
      await tenant.script.run(context, { promise: true, copy: true });
      context.release();
      host.release();
    },
    async warm(): Promise<void> {
      const tenant = tenants[seq++ % TENANTS]!;
      // As the worker does: a Reference per execution, handed in with the call facts in the one task that starts it.
      const host = new ivm.Reference(storeGet);
      await tenant.start.apply(undefined, [host, { from: '+4930111' }], { arguments: { copy: true }, result: { promise: true } });
      host.release();
    },
  };

  console.log(`isolated-vm alone (one process, ${TENANTS} isolates, ${os.cpus().length} CPUs, 1 awaited host call per execution, no IPC)`);
  for (const mode of modes) {
    const run = once[mode as keyof typeof once];
    for (let i = 0; i < 400; i++) await Promise.all(Array.from({ length: TENANTS }, run));
    const cpuBefore = process.cpuUsage();
    const saturated = await saturate(CONCURRENCY, SATURATE_MS, run);
    const cpu = process.cpuUsage(cpuBefore);
    const perSecond = saturated / (SATURATE_MS / 1000);
    // Offered faster than it can go, the backlog of contexts would grow until an isolate runs out of memory.
    const pacedRate = Math.min(rate, Math.round(perSecond / 2));
    const latencies = await paced(pacedRate, PACED_MS, run);
    const pct = (p: number) => percentile(latencies, p).toFixed(2);
    console.log(
      `  ${mode} context: ${perSecond.toFixed(0)} executions/s saturated (${CONCURRENCY} in flight), CPU per execution ${((cpu.user + cpu.system) / saturated).toFixed(0)} µs (all threads)`,
    );
    console.log(
      `  ${mode} context: latency at ${pacedRate}/s${pacedRate < rate ? ' (half the saturated rate)' : ''}: p50 ${pct(50)} ms, p90 ${pct(90)} ms, p99 ${pct(99)} ms, p99.9 ${pct(99.9)} ms (load average ${os.loadavg()[0]?.toFixed(1)})`,
    );
  }
  for (const tenant of tenants) tenant.isolate.dispose();
}
