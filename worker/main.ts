/**
 * Dialplan worker process: hosts tenant isolates and runs executions the dispatcher sends over
 * IPC. Forked by server/dialplan with `--no-node-snapshot --noexpose-wasm`; everything it knows
 * arrives in messages, and it has nothing worth shutting down cleanly, so the dispatcher ends it
 * with SIGKILL (process.exit() after a memory-limit disposal can segfault).
 */
import { Compiler, type Prepared } from './compile.ts';
import { sampleThreadCpu } from './cpuClock.ts';
import { TenantSandbox } from './sandbox.ts';
import type { DiscardReason, FromWorker, HostOp, RunMessage, ToWorker, WorkerConfig, WorkerLogLevel } from './protocol.ts';

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;

interface Running {
  /** Null while the dialplan is still being prepared. */
  sandbox: TenantSandbox | null;
  pending: Map<number, (reply: string) => void>;
  nextCallId: number;
  /** The dispatcher already has an answer (done sent, or abandoned on its request). */
  reported: boolean;
}

const sandboxes = new Map<string, TenantSandbox>();
/** Every isolate still alive, including retiring ones no longer in `sandboxes`. */
const all = new Set<TenantSandbox>();
const running = new Map<string, Running>();
const compiler = new Compiler(config.heapMb);

/** Warm contexts discarded since the start, by reason: reported with each probe. */
const discarded: Record<DiscardReason, number> = { count: 0, idle: 0, failure: 0, heap: 0, version: 0, isolate: 0 };

/**
 * Prepared dialplans by version key, least recently used first. Bounded by size; the dispatcher
 * assumes a source it sent is still here and sends it again when told otherwise (`need-source`).
 */
const prepared = new Map<string, { size: number; result: Promise<Prepared> }>();
const PREPARED_MAX_CHARS = 16 * 1024 * 1024;
let preparedChars = 0;

function preparedFor(msg: RunMessage): Promise<Prepared> | null {
  const found = prepared.get(msg.versionKey);
  if (found) {
    prepared.delete(msg.versionKey);
    prepared.set(msg.versionKey, found);
    return found.result;
  }
  if (msg.source === undefined) return null;
  const entry = { size: msg.source.length, result: compiler.prepare(msg.source) };
  prepared.set(msg.versionKey, entry);
  preparedChars += entry.size;
  for (const [hash, old] of prepared) {
    if (preparedChars <= PREPARED_MAX_CHARS || old === entry) break;
    prepared.delete(hash);
    preparedChars -= old.size;
  }
  return entry.result;
}

let outbox: FromWorker[] = [];

/** Queues a message; everything queued in this event-loop turn leaves as one IPC batch. */
function send(message: FromWorker): void {
  if (outbox.push(message) === 1) setImmediate(flush);
}

function flush(): void {
  const batch = outbox;
  outbox = [];
  if (process.connected) process.send?.(batch);
}

/** How long a worker that reported a lost isolate waits for the report to be written before ending anyway. */
const LOST_REPORT_MS = 2000;
let ending = false;

/**
 * A tenant's isolate is beyond control (see SandboxEvents): only ending the process stops it. The
 * dispatcher is told who caused it, with everything queued before, and then the worker ends
 * itself with SIGKILL (`process.exit()` hangs once V8 has reported a catastrophic error).
 */
function lost(tenantId: string, kind: 'abort' | 'cpu', message: string): void {
  if (ending) return;
  ending = true;
  const batch: FromWorker[] = [...outbox, { t: 'lost', tenantId, kind, message }];
  outbox = [];
  const end = () => process.kill(process.pid, 'SIGKILL');
  setTimeout(end, LOST_REPORT_MS);
  if (process.connected && process.send) process.send(batch, end);
  else end();
}

function sandboxFor(tenantId: string): TenantSandbox {
  let sandbox = sandboxes.get(tenantId);
  if (!sandbox || !sandbox.usable) {
    sandbox = new TenantSandbox(tenantId, config, {
      lost: (kind, message) => lost(tenantId, kind, message),
      discarded: (reason) => void (discarded[reason] += 1),
    });
    sandboxes.set(tenantId, sandbox);
    all.add(sandbox);
  }
  return sandbox;
}

const ENDED = JSON.stringify({ ok: false, message: 'the execution has ended' });

function settlePending(run: Running): void {
  for (const resolve of run.pending.values()) resolve(ENDED);
  run.pending.clear();
}

async function execute(msg: RunMessage): Promise<void> {
  const dialplan = preparedFor(msg);
  if (!dialplan) return send({ t: 'need-source', id: msg.id });
  const run: Running = { sandbox: null, pending: new Map(), nextCallId: 1, reported: false };
  running.set(msg.id, run);
  const ready = await dialplan;
  if (run.reported) return;
  if (!ready.ok) {
    running.delete(msg.id);
    const { message, line, column } = ready;
    return send({ t: 'done', id: msg.id, outcome: 'error', error: { message, line, column }, cpuMs: 0 });
  }
  const sandbox = sandboxFor(msg.tenantId);
  run.sandbox = sandbox;
  const report = await sandbox.execute(msg, ready, {
    hostCall: (op: HostOp, argsJson: string) =>
      new Promise<string>((resolve) => {
        if (run.reported) return resolve(ENDED);
        const callId = run.nextCallId++;
        run.pending.set(callId, resolve);
        send({ t: 'host-call', id: msg.id, callId, op, argsJson });
      }),
    log: (level: WorkerLogLevel, message: string) => {
      if (!run.reported) send({ t: 'log', id: msg.id, level, message });
    },
  });
  running.delete(msg.id);
  settlePending(run);
  if (!run.reported) send({ t: 'done', id: msg.id, ...report });
}

function abort(id: string): void {
  const run = running.get(id);
  if (!run) return;
  run.reported = true;
  running.delete(id);
  settlePending(run);
  run.sandbox?.abandon(id);
  send({ t: 'done', id, outcome: 'timeout', error: { message: 'wall time limit exceeded' }, cpuMs: 0 });
}

process.on('message', (batch) => {
  for (const msg of batch as ToWorker[]) handle(msg);
});

function handle(msg: ToWorker): void {
  switch (msg.t) {
    case 'run':
      void execute(msg);
      break;
    case 'host-result': {
      const run = running.get(msg.id);
      const resolve = run?.pending.get(msg.callId);
      if (run && resolve) {
        run.pending.delete(msg.callId);
        resolve(msg.reply);
      }
      break;
    }
    case 'abort':
      abort(msg.id);
      break;
    case 'probe':
      send({
        t: 'probe-reply',
        seq: msg.seq,
        rssBytes: process.memoryUsage.rss(),
        isolateHeapBytes: [...all].reduce((sum, s) => sum + s.heapBytes, 0),
        isolates: all.size,
        executions: running.size,
        warmContexts: [...all].reduce((sum, s) => sum + s.warmContexts, 0),
        discarded,
      });
      break;
    case 'compile':
      void compiler.prepare(msg.source).then((result) => {
        send(result.ok ? { t: 'compiled', reqId: msg.reqId, ok: true } : { t: 'compiled', reqId: msg.reqId, ...result });
      });
      break;
  }
}

setInterval(() => {
  const now = Date.now();
  // Reading every thread's schedstat costs ~0.1 ms: only worth it while something runs, which
  // includes code left behind by ended executions (an isolate whose CPU time moves).
  let advanced = false;
  for (const sandbox of all) advanced = sandbox.cpuAdvanced() || sandbox.lingering || advanced;
  const threads = running.size > 0 || advanced ? sampleThreadCpu() : null;
  for (const sandbox of all) {
    if (threads) sandbox.checkCpu(threads);
    sandbox.maintain(now);
    if (sandbox.liveCount === 0 && (sandbox.retiring || now - sandbox.lastUsed > config.idleIsolateMs)) sandbox.dispose('idle');
    if (sandbox.disposed) {
      all.delete(sandbox);
      if (sandboxes.get(sandbox.tenantId) === sandbox) sandboxes.delete(sandbox.tenantId);
    }
  }
}, config.watchdogIntervalMs);

// Without its dispatcher a worker has no purpose; SIGKILL avoids exit-time crashes in isolated-vm.
process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'));
// Stop signals are the switch's to act on. A signal to the process group (Ctrl-C at a terminal,
// `kill -- -PGID`, systemd's KillMode=control-group) reaches the workers too, and a worker that
// died of it would fail the calls the switch's graceful stop is letting finish. The switch ends
// its workers itself (the disconnect above, or SIGKILL).
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => {});

// The first time-zone lookup loads ICU data (~20 ms of CPU): pay it here, not in a tenant's slice.
new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', timeZoneName: 'longOffset' }).formatToParts(new Date());
send({ t: 'ready' });
