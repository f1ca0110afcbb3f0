/**
 * Dialplan engine throughput and dispatch latency: `npx tsx bench/dialplan.ts [workers]`.
 * Each execution runs in a warm context of its tenant's dialplan version and makes one awaited
 * host call (WARM_EXECUTIONS=1: a fresh context for each, as the engine did before its warm
 * contexts). Phase 1 saturates the pool for a fixed time; phase 2 offers half that rate at a
 * steady pace and records how long the dispatcher takes to get an execution into a worker and
 * back (run() call → result). Bounded to well under a minute.
 *
 * Both phases report CPU per execution from /proc: the dispatcher (this process), the workers'
 * main threads (IPC, isolated-vm's task hand-offs, the watchdog) and their other threads (tenant
 * isolates, including isolated-vm's short-lived threads, and V8's GC and compiler helpers), and
 * context switches per execution. CPU per execution moves far less than throughput when other
 * processes share the machine; the latencies move with them (see the load average and steal).
 *
 * PACED_RATE=n paces phase 2 at n/s instead of half the saturated rate (never faster than the
 * saturated rate: an offered load the engine cannot serve only measures its queue).
 *
 * PROFILE_DIR=dir writes V8 CPU profiles of the measured phases (open them in Chrome DevTools):
 * `dispatcher-<pid>.cpuprofile` and one `main-<pid>.cpuprofile` per worker (their main threads).
 * Isolate threads run native code; profile those with `perf record -g -p <worker pid>`.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { startDialplanRunner } from '../server/dialplan/runner.ts';
import type { CallFacts, DialplanHost, ExecutionRequest } from '../server/dialplan/types.ts';
import { profileThisProcess, type CpuProfiler } from './lib/cpuProfile.ts';
import { paced, percentile, saturate } from './lib/load.ts';
import { CLK_TCK, procTicks, stealTicks } from './lib/proc.ts';

const WORKERS = Number(process.argv[2] ?? Math.min(2, os.cpus().length));
const TENANTS = 8;
const SATURATE_MS = 8000;
const PACED_MS = 8000;
const CONCURRENCY = 64;
const PROFILE_DIR = process.env.PROFILE_DIR ? path.resolve(process.env.PROFILE_DIR) : null;
const WARM_EXECUTIONS = Number(process.env.WARM_EXECUTIONS ?? 1000);

if (PROFILE_DIR) {
  mkdirSync(PROFILE_DIR, { recursive: true });
  // Workers are forked with this environment: they load the profiler and wait for SIGUSR2.
  const hook = fileURLToPath(new URL('./lib/cpuProfile.ts', import.meta.url));
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import=tsx --import=${hook}`.trim();
  process.env.CPU_PROFILE_DIR = PROFILE_DIR;
}

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

const registry = new Registry();
const runner = await startDialplanRunner({
  // Profiled workers end when they have written their profile, which the pool reports as a crash.
  logger: pino({ level: PROFILE_DIR ? 'error' : 'warn' }),
  registry,
  workers: WORKERS,
  limits: { tenantConcurrency: CONCURRENCY, workerConcurrency: 32, warmExecutions: WARM_EXECUTIONS },
  // Probes carry the workers' warm-context counts, reported below.
  recycle: { probeIntervalMs: 250 },
});

let seq = 0;
const failures = new Map<string, number>();
async function once(): Promise<void> {
  seq += 1;
  const request: ExecutionRequest = {
    executionId: `bench-${seq}`,
    tenantId: `tenant-${seq % TENANTS}`,
    dialplan: { name: 'default', version: 1, source },
    call,
    timeZone: 'UTC',
  };
  const result = await runner.run(request, host);
  if (result.outcome !== 'completed') failures.set(result.outcome, (failures.get(result.outcome) ?? 0) + 1);
}

// Warm-up: every tenant's isolate exists and the JIT has seen the path.
await Promise.all(Array.from({ length: 200 }, once));
const workerPids = runner.stats().workers.flatMap((w) => (w.pid ? [w.pid] : []));

/** Context switches (voluntary and not) of a process's live threads. */
function contextSwitches(pid: number | 'self'): number {
  let sum = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      for (const m of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)/gm)) sum += Number(m[1]);
    }
  } catch {
    // The process or a thread is gone: what it switched is lost, the rest still counts.
  }
  return sum;
}

/** utime+stime (clock ticks) of a process's main thread; 0 once it is gone. */
function mainThreadTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

interface CpuReading {
  dispatcherUs: number;
  /** Per worker pid, clock ticks: the whole process (exited threads included) and its main thread. */
  workers: Map<number, { ticks: number; mainTicks: number }>;
  switches: number;
  steal: number;
}

/** The pool's current worker pids: a worker recycled during a phase is replaced by a new pid. */
const currentWorkerPids = () => runner.stats().workers.flatMap((w) => (w.pid ? [w.pid] : []));

function readCpu(): CpuReading {
  const usage = process.cpuUsage();
  const pids = currentWorkerPids();
  return {
    dispatcherUs: usage.user + usage.system,
    workers: new Map(pids.map((pid) => [pid, { ticks: procTicks(pid).own, mainTicks: mainThreadTicks(pid) }])),
    switches: contextSwitches('self') + pids.reduce((sum, pid) => sum + contextSwitches(pid), 0),
    steal: stealTicks(),
  };
}

function cpuPerExecution(before: CpuReading, after: CpuReading, executions: number, ms: number): string {
  const us = (ticks: number) => ((ticks * 1e6) / CLK_TCK / executions).toFixed(0);
  // Only workers alive at both readings can be compared; a replaced one's time is not counted.
  let workers = 0;
  let main = 0;
  let replaced = 0;
  for (const [pid, a] of after.workers) {
    const b = before.workers.get(pid);
    if (!b) {
      replaced++;
      continue;
    }
    workers += a.ticks - b.ticks;
    main += a.mainTicks - b.mainTicks;
  }
  const stealPerCpu = ((after.steal - before.steal) * 1000) / CLK_TCK / os.cpus().length / ms;
  return (
    `dispatcher ${((after.dispatcherUs - before.dispatcherUs) / executions).toFixed(0)} µs, ` +
    `workers ${us(workers)} µs (main threads ${us(main)}, isolate and V8 threads ${us(workers - main)}), ` +
    `${((after.switches - before.switches) / executions).toFixed(1)} context switches ` +
    `(load average ${os.loadavg()[0]?.toFixed(1)}, steal ${(stealPerCpu * 100).toFixed(0)} %)` +
    (replaced ? `; ${replaced} worker(s) replaced meanwhile: their CPU is not counted, so workers' figures are low` : '')
  );
}

let dispatcherProfile: CpuProfiler | null = null;
if (PROFILE_DIR) {
  dispatcherProfile = profileThisProcess(PROFILE_DIR, 'dispatcher');
  for (const pid of workerPids) process.kill(pid, 'SIGUSR2');
}

const saturatedBefore = readCpu();
const saturateStart = performance.now();
const done = await saturate(CONCURRENCY, SATURATE_MS, once);
const saturatedCpu = cpuPerExecution(saturatedBefore, readCpu(), done, performance.now() - saturateStart);
const perSecond = done / (SATURATE_MS / 1000);

// PACED_RATE sets the paced phase's rate instead (e.g. 2000: the rate of the latency aim).
const rate = Math.min(Number(process.env.PACED_RATE ?? perSecond / 2), perSecond);
const pacedBefore = readCpu();
const pacedStart = performance.now();
const latencies = await paced(rate, PACED_MS, once);
const pacedCpu = cpuPerExecution(pacedBefore, readCpu(), latencies.length, performance.now() - pacedStart);
const pct = (p: number) => percentile(latencies, p);

const contexts = WARM_EXECUTIONS === 1 ? 'a fresh context' : `warm contexts (up to ${WARM_EXECUTIONS} executions each)`;
console.log(`dialplan engine: ${WORKERS} workers, ${os.cpus().length} CPUs, ${TENANTS} tenants, ${contexts}, 1 awaited host call per execution`);
console.log(`  throughput (saturated, ${CONCURRENCY} in flight): ${perSecond.toFixed(0)} executions/s`);
console.log(`  CPU per execution while saturated: ${saturatedCpu}`);
console.log(
  `  dispatch latency at ${rate.toFixed(0)}/s (${process.env.PACED_RATE ? 'PACED_RATE' : 'half load'}), ${latencies.length} executions: p50 ${pct(50).toFixed(2)} ms, p90 ${pct(90).toFixed(2)} ms, p99 ${pct(99).toFixed(2)} ms, p99.9 ${pct(99.9).toFixed(2)} ms`,
);
console.log(`  CPU per execution at half load: ${pacedCpu}`);
if (failures.size > 0) console.log(`  non-completed outcomes: ${JSON.stringify(Object.fromEntries(failures))}`);
const discarded = (await registry.getSingleMetric('dialplan_warm_context_discards_total')?.get())?.values ?? [];
const recycles = (await registry.getSingleMetric('dialplan_worker_recycles_total')?.get())?.values ?? [];
const byLabel = (values: typeof discarded, label: string) => JSON.stringify(Object.fromEntries(values.map((v) => [v.labels[label], v.value])));
console.log(`  warm contexts discarded, by reason: ${byLabel(discarded, 'reason')}; workers replaced, by reason: ${byLabel(recycles, 'reason')}`);
const mb = (bytes: number | undefined) => Math.round((bytes ?? 0) / 1048576);
const workerMemory = runner.stats().workers.map((w) => `${mb(w.rssBytes)} MB (isolate heaps ${mb(w.isolateHeapBytes)} MB, ${w.warmContexts} warm contexts)`);
console.log(`  workers' RSS at the end: ${workerMemory.join(', ')}`);

if (PROFILE_DIR && dispatcherProfile) {
  console.log(`  profile: ${await dispatcherProfile.stop()}`);
  // A worker replaced during the run (see above) took its profile with it.
  const alive = workerPids.filter((pid) => currentWorkerPids().includes(pid));
  const expected = alive.map((pid) => path.join(PROFILE_DIR, `main-${pid}.cpuprofile`));
  for (const pid of alive) process.kill(pid, 'SIGUSR2');
  if (alive.length < workerPids.length) console.log(`  profile: ${workerPids.length - alive.length} worker(s) replaced during the run, not profiled to the end`);
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !expected.every((f) => existsSync(f))) await new Promise((r) => setTimeout(r, 100));
  for (const file of expected) console.log(`  profile: ${existsSync(file) ? file : `${file} (not written)`}`);
}
await runner.stop();
