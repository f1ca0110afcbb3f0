/**
 * Dialplan engine throughput and dispatch latency: `npx tsx bench/dialplan.ts [workers]`.
 * Each execution gets a fresh context and makes one awaited host call. Phase 1 saturates the pool
 * for a fixed time; phase 2 offers half that rate at a steady pace and records how long the
 * dispatcher takes to get an execution into a worker and back (run() call → result).
 * Bounded to well under a minute.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { startDialplanRunner } from '../server/dialplan/runner.ts';
import type { CallFacts, DialplanHost, ExecutionRequest } from '../server/dialplan/types.ts';

const WORKERS = Number(process.argv[2] ?? Math.min(2, os.cpus().length));
const TENANTS = 8;
const SATURATE_MS = 8000;
const PACED_MS = 8000;
const CONCURRENCY = 64;

const source = `export default async function (call) {
  const blocked = await store.get('blocked:' + call.from.user);
  if (blocked) return respond(403);
}`;
const call: CallFacts = {
  id: 'bench',
  channelId: 'bench',
  direction: 'in',
  from: { user: '+4930111', host: 'p.example', uri: 'sip:+4930111@p.example' },
  to: { user: 'alice', host: 't.example', uri: 'sip:alice@t.example' },
  requestUri: 'sip:alice@t.example',
  headers: {},
  source: { address: '192.0.2.1', port: 5060, transport: 'udp' },
};
const host: DialplanHost = {
  dial: async () => ({ answered: true, result: 'answered' }),
  respond: async () => {},
  log: () => {},
  store: { get: async () => undefined, set: async () => {}, delete: async () => false, keys: async () => [] },
  registrations: async () => [],
};

const runner = await startDialplanRunner({
  logger: pino({ level: 'warn' }),
  registry: new Registry(),
  workers: WORKERS,
  limits: { tenantConcurrency: CONCURRENCY, workerConcurrency: 32 },
});

let seq = 0;
const failures = new Map<string, number>();
async function once(): Promise<number> {
  seq += 1;
  const request: ExecutionRequest = {
    executionId: `bench-${seq}`,
    tenantId: `tenant-${seq % TENANTS}`,
    dialplan: { name: 'default', version: 1, source },
    call,
    timeZone: 'UTC',
  };
  const started = performance.now();
  const result = await runner.run(request, host);
  if (result.outcome !== 'completed') failures.set(result.outcome, (failures.get(result.outcome) ?? 0) + 1);
  return performance.now() - started;
}

// Warm-up: every tenant's isolate exists and the JIT has seen the path.
await Promise.all(Array.from({ length: 200 }, once));

/** CPU (ms) a process used so far, all threads: utime + stime from /proc (clock ticks of 10 ms). */
function processCpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}
const workerCpuMs = () => runner.stats().workers.reduce((sum, w) => sum + processCpuMs(w.pid ?? 0), 0);

let done = 0;
const dispatcherCpuAtStart = process.cpuUsage();
const workerCpuAtStart = workerCpuMs();
const saturateEnd = performance.now() + SATURATE_MS;
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (performance.now() < saturateEnd) {
      await once();
      done += 1;
    }
  }),
);
const perSecond = done / (SATURATE_MS / 1000);
const dispatcherCpu = process.cpuUsage(dispatcherCpuAtStart);
const dispatcherUsPerExecution = (dispatcherCpu.user + dispatcherCpu.system) / done;
const workerUsPerExecution = ((workerCpuMs() - workerCpuAtStart) * 1000) / done;

const rate = perSecond / 2;
const latencies: number[] = [];
const pending: Array<Promise<void>> = [];
const pacedStart = performance.now();
for (let i = 0; performance.now() - pacedStart < PACED_MS; i++) {
  const due = pacedStart + (i * 1000) / rate;
  const wait = due - performance.now();
  if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  pending.push(once().then((ms) => void latencies.push(ms)));
}
await Promise.all(pending);
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;

console.log(`dialplan engine: ${WORKERS} workers, ${os.cpus().length} CPUs, ${TENANTS} tenants, fresh context + 1 awaited host call per execution`);
console.log(`  throughput (saturated, ${CONCURRENCY} in flight): ${perSecond.toFixed(0)} executions/s`);
console.log(
  `  CPU per execution while saturated: dispatcher ${dispatcherUsPerExecution.toFixed(0)} µs, workers ${workerUsPerExecution.toFixed(0)} µs (load average ${os.loadavg()[0]?.toFixed(1)})`,
);
console.log(
  `  dispatch latency at ${rate.toFixed(0)}/s (half load), ${latencies.length} executions: p50 ${pct(50).toFixed(2)} ms, p99 ${pct(99).toFixed(2)} ms`,
);
if (failures.size > 0) console.log(`  non-completed outcomes: ${JSON.stringify(Object.fromEntries(failures))}`);
await runner.stop();
