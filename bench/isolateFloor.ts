/**
 * What isolated-vm alone does on this machine, as the floor under bench/dialplan.ts:
 * `npx tsx bench/isolateFloor.ts`. The same per-execution isolate work as a dialplan execution (a
 * context made ahead, the values handed in through a global, a compiled script run in it, one
 * awaited async host call, the context released), with 8 tenant isolates in one process, but
 * none of the engine around it: no worker processes, no IPC, no dispatcher, no watchdog, no
 * prelude. The engine can only be slower; where this misses an aim, no dispatching will meet it.
 *
 * Runs with the dialplan workers' V8 flags (it starts itself again with them when they are missing).
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
  const PACED_MS = 8000;
  const rate = Number(process.env.PACED_RATE ?? 1000);

  const storeGet = async (key: string) => (key === 'blocked:nobody' ? 'yes' : null);
  const source = `(async () => {
    const [host, call] = globalThis.$in;
    delete globalThis.$in;
    const blocked = await host.apply(undefined, ['blocked:' + call.from], { arguments: { copy: true }, result: { promise: true, copy: true } });
    return blocked ? 403 : 0;
  })()`;

  const tenants = await Promise.all(
    Array.from({ length: TENANTS }, async () => {
      const isolate = new ivm.Isolate({ memoryLimit: 32 });
      const script = await isolate.compileScript(source);
      return { isolate, script, spare: isolate.createContext() };
    }),
  );

  let seq = 0;
  async function once(): Promise<void> {
    const tenant = tenants[seq++ % TENANTS]!;
    const context = await tenant.spare;
    tenant.spare = tenant.isolate.createContext();
    // As the worker does: a Reference per execution, handed in with the call facts in one task.
    const host = new ivm.Reference(storeGet);
    context.global.setIgnored('$in', [host, { from: '+4930111' }], { copy: true });
    await tenant.script.run(context, { promise: true, copy: true });
    context.release();
    host.release();
  }

  for (let i = 0; i < 400; i++) await Promise.all(Array.from({ length: TENANTS }, once));
  const cpuBefore = process.cpuUsage();
  const saturated = await saturate(CONCURRENCY, SATURATE_MS, once);
  const cpu = process.cpuUsage(cpuBefore);
  const perSecond = saturated / (SATURATE_MS / 1000);
  const latencies = await paced(rate, PACED_MS, once);
  const pct = (p: number) => percentile(latencies, p).toFixed(2);
  console.log(`isolated-vm alone (one process, ${TENANTS} isolates, ${os.cpus().length} CPUs, fresh context + 1 awaited host call, no IPC)`);
  console.log(`  throughput (saturated, ${CONCURRENCY} in flight): ${perSecond.toFixed(0)} executions/s, CPU per execution ${((cpu.user + cpu.system) / saturated).toFixed(0)} µs (all threads)`);
  console.log(`  latency at ${rate}/s: p50 ${pct(50)} ms, p90 ${pct(90)} ms, p99 ${pct(99)} ms, p99.9 ${pct(99.9)} ms`);
  for (const tenant of tenants) tenant.isolate.dispose();
}
