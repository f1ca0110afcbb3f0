import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { DiscardReason, FromWorker, WorkerConfig } from '../../worker/protocol.ts';
import { createDialplanMetrics, type DialplanMetrics, type FailureKind, type RecycleReason } from './metrics.ts';
import { DEFAULT_LIMITS, DEFAULT_QUARANTINE, DEFAULT_RECYCLE, type DialplanLimits, type RecyclePolicy, type RunnerOptions } from './options.ts';
import { Quarantine } from './quarantine.ts';
import { ExecutionSession, type SessionEvents } from './session.ts';
import type {
  CompileResult,
  DialplanHost,
  DialplanRunner,
  ExecutionError,
  ExecutionOutcome,
  ExecutionRequest,
  ExecutionResult,
  QuarantineInfo,
  RefusalKind,
  RunnerStats,
} from './types.ts';
import { ENGINE_STOPPED } from './types.ts';
import { VersionKeys } from './versionKeys.ts';
import { WorkerProcess } from './workerProcess.ts';

const COMPILE_TIMEOUT_MS = 5000;
const RESPAWN_BACKOFF_MS = 1000;
const ENDED_REPLY = JSON.stringify({ ok: false, message: 'the execution has ended' });
/**
 * A tenant's executions stay on the worker that ran its last one while that worker holds at most
 * this many more executions than the least-loaded one: each tenant then has an isolate (heap,
 * compiled scripts, a spare context) in one worker instead of in every worker, and a worker has
 * fewer isolates busy at once, which isolated-vm runs on short-lived threads once its pool
 * (cores + 1 threads) is taken.
 */
const HOME_SLACK = 4;
/** Tenants whose home worker is remembered (least recently dispatched forgotten first). */
const MAX_HOMES = 10_000;
/** Runs of one execution, counting those its workers died under (see `recoverInFlight`). */
const MAX_RUNS = 3;
/** For sessions that never reach a worker (refusals). */
const NO_SESSION_EVENTS: SessionEvents = { firstDial: () => {}, diverged: () => {} };

interface Execution {
  request: ExecutionRequest;
  session: ExecutionSession;
  /** Its logger (tenant, execution and channel ids), made when first needed: most executions log nothing. */
  log(): Logger;
  acceptedAt: number;
  worker: WorkerProcess | null;
  /** Names the dialplan version for the worker's caches and warm contexts; computed when first sent. */
  versionKey?: string;
  timers: NodeJS.Timeout[];
  settled: boolean;
  resolve(result: ExecutionResult): void;
}

/** A place for one worker: recycling swaps the process in a slot without ever leaving it empty. */
interface Slot {
  current: WorkerProcess;
  next: WorkerProcess | null;
}

interface CompileRequest {
  worker: WorkerProcess;
  timer: NodeJS.Timeout;
  resolve(result: CompileResult): void;
  reject(err: Error): void;
}

/** Starts the worker processes and resolves once each has reported ready. */
export async function startDialplanRunner(options: RunnerOptions): Promise<PooledDialplanRunner> {
  const runner = new PooledDialplanRunner(options);
  await runner.started;
  return runner;
}

/**
 * The dispatcher: admits executions (tenant caps, quarantine, queue bound), hands them to the
 * least-loaded worker, answers their host calls through an ExecutionSession, enforces wall time
 * while scripts await, and keeps the pool healthy (probes, recycling, crash handling).
 * See README.md in this directory for the reasoning.
 */
export class PooledDialplanRunner implements DialplanRunner {
  readonly started: Promise<void>;
  private readonly limits: DialplanLimits;
  private readonly policy: RecyclePolicy;
  private readonly logger: Logger;
  private readonly metrics: DialplanMetrics;
  private readonly quarantine: Quarantine;
  private readonly workerConfig: WorkerConfig;
  private readonly slots: Slot[] = [];
  private readonly draining = new Set<WorkerProcess>();
  /** Workers the pool ended on purpose (drained, or stopped): their exit is no failure. */
  private readonly retired = new WeakSet<WorkerProcess>();
  private readonly queue: Execution[] = [];
  private readonly executions = new Map<string, Execution>();
  private readonly tenantActive = new Map<string, number>();
  private readonly compiles = new Map<number, CompileRequest>();
  /** The worker each tenant's last execution went to (see HOME_SLACK). */
  private readonly homes = new Map<string, WorkerProcess>();
  private readonly versionKeys = new VersionKeys();
  private nextWorkerId = 1;
  private nextCompileId = 1;
  private stopping = false;

  constructor(options: RunnerOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.policy = { ...DEFAULT_RECYCLE, ...options.recycle };
    this.logger = options.logger.child({ component: 'dialplan' });
    this.metrics = createDialplanMetrics(options.registry);
    this.quarantine = new Quarantine({ ...DEFAULT_QUARANTINE, ...options.quarantine });
    this.workerConfig = {
      cpuMsPerSlice: this.limits.cpuMsPerSlice,
      heapMb: this.limits.heapMb,
      watchdogIntervalMs: Math.min(25, Math.max(5, Math.floor(this.limits.cpuMsPerSlice / 2))),
      idleIsolateMs: 60_000,
      maxLogLines: this.limits.maxLogLines,
      maxLogChars: this.limits.maxLogChars,
      warmExecutions: this.limits.warmExecutions,
      warmIdleMs: this.limits.warmIdleMs,
      warmHeapMb: this.limits.heapMb * this.limits.warmHeapShare,
    };
    const count = Math.max(1, options.workers ?? 2);
    for (let i = 0; i < count; i++) this.slots.push({ current: this.spawn(), next: null });
    this.started = Promise.all(this.slots.map((s) => s.current.ready)).then(() => {
      this.logger.info({ workers: count }, 'dialplan workers ready');
    });
  }

  /**
   * Runs one execution. Its request comes from the switch's own code, which built it from input
   * validated where it entered (SIP parsing for the call facts, the API's schemas for test runs
   * and time zones): it is not validated again on every execution.
   */
  run(request: ExecutionRequest, host: DialplanHost): Promise<ExecutionResult> {
    const { tenantId, executionId } = request;
    if (this.executions.has(executionId)) throw new TypeError(`execution ${executionId} is already running`);
    let child: Logger | undefined;
    const log = () => (child ??= this.logger.child({ tenantId, executionId, channelId: request.call.channelId }));

    if (this.stopping) return Promise.resolve(this.refuse(host, log, 'the dialplan engine is stopping', 'rejected_overload', 'unavailable'));
    const held = this.quarantine.check(tenantId);
    if (held) {
      const message = `call rejected: dialplans of this tenant are suspended until ${held.until.toISOString()} (${held.reason})`;
      return Promise.resolve(this.refuse(host, log, message, 'rejected_quarantine', 'suspended'));
    }
    const active = this.tenantActive.get(tenantId) ?? 0;
    if (active >= this.limits.tenantConcurrency) {
      const message = `call rejected: ${active} dialplan executions already running for this tenant (limit ${this.limits.tenantConcurrency})`;
      return Promise.resolve(this.refuse(host, log, message, 'rejected_tenant_limit', 'tenant_limit'));
    }
    if (this.queue.length >= this.limits.queueLimit) {
      return Promise.resolve(this.refuse(host, log, 'call rejected: the dialplan engine is overloaded', 'rejected_overload', 'overload'));
    }
    if (Buffer.byteLength(request.dialplan.source) > this.limits.maxSourceBytes) {
      return Promise.resolve(
        this.result(new ExecutionSession(host, this.limits, log, NO_SESSION_EVENTS), 'error', 0, 0, {
          message: `the dialplan is larger than ${this.limits.maxSourceBytes} bytes`,
        }),
      );
    }

    return new Promise<ExecutionResult>((resolve) => {
      const execution: Execution = {
        request,
        log,
        acceptedAt: performance.now(),
        worker: null,
        timers: [],
        settled: false,
        resolve,
        session: new ExecutionSession(host, this.limits, log, {
          firstDial: () => clearTimeout(execution.timers[0]),
          diverged: (message) =>
            this.abandon(execution, 'crashed', {
              message: `the dialplan ran again after its worker died, and did not repeat what it had done: ${message}`,
            }),
        }),
      };
      execution.timers.push(
        setTimeout(() => this.wallTimeout(execution, `no dial within ${this.limits.firstDialMs} ms`), this.limits.firstDialMs),
        setTimeout(() => this.wallTimeout(execution, `wall time limit of ${this.limits.absoluteMs} ms exceeded`), this.limits.absoluteMs),
      );
      this.tenantActive.set(tenantId, active + 1);
      this.executions.set(executionId, execution);
      this.queue.push(execution);
      this.pump();
    });
  }

  async compile(source: string): Promise<CompileResult> {
    if (Buffer.byteLength(source) > this.limits.maxSourceBytes) {
      return { ok: false, message: `the dialplan is larger than ${this.limits.maxSourceBytes} bytes`, line: 1, column: 1 };
    }
    if (!this.pickWorker()) await Promise.race(this.slots.map((s) => s.current.ready));
    const worker = this.pickWorker() ?? this.slots[0]?.current;
    if (!worker || this.stopping) throw new Error('no dialplan worker available to compile');
    const reqId = this.nextCompileId++;
    return new Promise<CompileResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.compiles.delete(reqId);
        reject(new Error(`compiling timed out after ${COMPILE_TIMEOUT_MS} ms`));
      }, COMPILE_TIMEOUT_MS);
      this.compiles.set(reqId, { worker, timer, resolve, reject });
      worker.send({ t: 'compile', reqId, source });
    });
  }

  quarantined(tenantId: string): QuarantineInfo | null {
    return this.quarantine.check(tenantId);
  }

  /** Replaces every worker (gracefully): for deployments and tests. */
  recycleAll(): void {
    for (const slot of this.slots) this.recycle(slot.current, 'forced');
  }

  stats(): RunnerStats {
    return {
      workers: this.workers().map((w) => w.stats()),
      queued: this.queue.length,
      running: this.executions.size - this.queue.length,
      quarantined: this.quarantine.list(),
    };
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const execution of [...this.executions.values()]) {
      this.finish(execution, 'crashed', 0, { message: ENGINE_STOPPED });
    }
    for (const request of this.compiles.values()) {
      clearTimeout(request.timer);
      request.reject(new Error(ENGINE_STOPPED));
    }
    this.compiles.clear();
    const workers = this.workers().filter((w) => w.alive);
    for (const w of workers) this.retire(w);
    await Promise.all(workers.map((w) => w.exited));
    this.logger.info('dialplan workers stopped');
  }

  private spawn(): WorkerProcess {
    const worker = new WorkerProcess(this.nextWorkerId++, this.workerConfig, this.policy, {
      message: (w, message) => this.onMessage(w, message),
      exit: (w, cause) => this.onExit(w, cause),
      unresponsive: (w, why) => this.onUnresponsive(w, why),
    });
    worker.ready.then(
      () => this.pump(),
      (err: Error) => this.logger.error({ err, workerId: worker.id }, 'dialplan worker failed to start'),
    );
    return worker;
  }

  private pickWorker(tenantId?: string): WorkerProcess | null {
    let best: WorkerProcess | null = null;
    for (const { current } of this.slots) {
      if (!this.canTake(current)) continue;
      if (!best || current.inFlight.size < best.inFlight.size) best = current;
    }
    const home = tenantId === undefined ? undefined : this.homes.get(tenantId);
    if (best && home && home !== best && this.canTake(home) && home.inFlight.size <= best.inFlight.size + HOME_SLACK) return home;
    return best;
  }

  private canTake(worker: WorkerProcess): boolean {
    return worker.state === 'active' && worker.alive && worker.inFlight.size < this.limits.workerConcurrency;
  }

  private pump(): void {
    while (this.queue.length > 0) {
      const { tenantId } = (this.queue[0] as Execution).request;
      const worker = this.pickWorker(tenantId);
      if (!worker) break;
      const execution = this.queue.shift() as Execution;
      const { request } = execution;
      execution.worker = worker;
      worker.inFlight.add(request.executionId);
      this.homes.delete(tenantId);
      this.homes.set(tenantId, worker);
      if (this.homes.size > MAX_HOMES) this.homes.delete(this.homes.keys().next().value as string);
      this.sendRun(worker, execution);
    }
    this.metrics.queueDepth.set(this.queue.length);
  }

  private sendRun(worker: WorkerProcess, execution: Execution, resend = false): void {
    const { request } = execution;
    execution.versionKey ??= this.versionKeys.keyOf(request.tenantId, request.dialplan);
    worker.run(
      { t: 'run', id: request.executionId, tenantId: request.tenantId, versionKey: execution.versionKey, call: request.call, timeZone: request.timeZone },
      request.dialplan.source,
      resend,
    );
  }

  private onMessage(worker: WorkerProcess, message: FromWorker): void {
    switch (message.t) {
      case 'need-source': {
        const execution = this.executions.get(message.id);
        // An execution timed out meanwhile is over for the worker too: it never started it.
        if (execution?.worker === worker) {
          this.sendRun(worker, execution, true);
          break;
        }
        worker.release(message.id);
        if (worker.state === 'draining' && worker.inFlight.size === 0) this.retire(worker);
        this.pump();
        break;
      }
      case 'host-call': {
        const execution = this.executions.get(message.id);
        const { id, callId } = message;
        if (!execution || execution.worker !== worker) {
          worker.send({ t: 'host-result', id, callId, reply: ENDED_REPLY });
          break;
        }
        void execution.session.handle(message.op, message.argsJson).then((reply) => {
          worker.send({ t: 'host-result', id, callId, reply });
        });
        break;
      }
      case 'log': {
        const execution = this.executions.get(message.id);
        if (execution?.worker === worker) execution.session.log(message.level, message.message);
        break;
      }
      case 'done': {
        worker.release(message.id);
        worker.completed += 1;
        const execution = this.executions.get(message.id);
        if (execution?.worker === worker) {
          const outcome = message.outcome === 'completed' && execution.session.responded ? 'responded' : message.outcome;
          this.finish(execution, outcome, message.cpuMs, message.error);
        }
        if ((message.outcome === 'timeout' || message.outcome === 'memory') && worker.recordFailure()) {
          this.recycle(worker, 'failures');
        }
        if (worker.state === 'draining' && worker.inFlight.size === 0) this.retire(worker);
        this.pump();
        break;
      }
      case 'lost':
        // The worker ends itself after this; killing it here too covers a worker that cannot.
        worker.lost ??= { tenantId: message.tenantId, kind: message.kind, message: message.message };
        this.logger.warn(
          { workerId: worker.id, pid: worker.pid, tenantId: message.tenantId, kind: message.kind, why: message.message },
          'a dialplan put its worker beyond control; ending the worker',
        );
        worker.kill();
        break;
      case 'probe-reply':
        this.countWarm(worker, message.discarded);
        // Tenant heaps are bounded one by one and would be rebuilt in a new process; what recycling
        // wins back is the rest (leaks, fragmentation), so only that is held against the threshold.
        if (message.rssBytes - message.isolateHeapBytes > this.policy.rssBytes) this.recycle(worker, 'memory');
        break;
      case 'compiled': {
        const request = this.compiles.get(message.reqId);
        if (!request) break;
        this.compiles.delete(message.reqId);
        clearTimeout(request.timer);
        const { t: _t, reqId: _r, ...result } = message;
        request.resolve(result);
        break;
      }
      case 'ready':
        break;
    }
  }

  /** Warm-context metrics from a probe: the gauge over live workers, the discards since the worker's last probe. */
  private countWarm(worker: WorkerProcess, discarded: Record<DiscardReason, number>): void {
    for (const reason of Object.keys(discarded) as DiscardReason[]) {
      const more = discarded[reason] - (worker.warmDiscarded?.[reason] ?? 0);
      if (more > 0) this.metrics.warmDiscards.inc({ reason }, more);
    }
    worker.warmDiscarded = discarded;
    this.metrics.warmContexts.set(this.workers().reduce((sum, w) => sum + (w.alive ? (w.warmContexts ?? 0) : 0), 0));
  }

  /** Every worker process of the pool: in the slots, starting as replacements, draining. */
  private workers(): WorkerProcess[] {
    return [...this.slots.flatMap((s) => (s.next ? [s.current, s.next] : [s.current])), ...this.draining];
  }

  /**
   * Starts a replacement and drains the old worker once the new one is ready, so capacity never
   * drops and nothing queued is lost (the queue lives here, not in the worker).
   */
  private recycle(worker: WorkerProcess, reason: RecycleReason): void {
    const slot = this.slots.find((s) => s.current === worker);
    if (!slot || slot.next || this.stopping || worker.state !== 'active') return;
    this.metrics.recycles.inc({ reason });
    this.logger.info({ workerId: worker.id, pid: worker.pid, reason, rssBytes: worker.rssBytes }, 'recycling dialplan worker');
    worker.replacing = true;
    const next = this.spawn();
    slot.next = next;
    next.ready.then(
      () => {
        if (slot.next !== next) return;
        slot.next = null;
        const old = slot.current;
        slot.current = next;
        if (old.alive) this.drain(old);
        this.pump();
      },
      () => {
        if (slot.next === next) slot.next = null;
        worker.replacing = false;
      },
    );
  }

  private drain(worker: WorkerProcess): void {
    worker.state = 'draining';
    this.draining.add(worker);
    if (worker.inFlight.size === 0) this.retire(worker);
  }

  private retire(worker: WorkerProcess): void {
    this.retired.add(worker);
    worker.kill();
  }

  private onUnresponsive(worker: WorkerProcess, why: string): void {
    if (!worker.alive || this.retired.has(worker)) return;
    this.logger.warn({ workerId: worker.id, pid: worker.pid, why }, 'dialplan worker unresponsive; killing it');
    worker.unresponsive = why;
    worker.kill();
  }

  private onExit(worker: WorkerProcess, cause: string): void {
    this.draining.delete(worker);
    for (const [tenantId, home] of this.homes) if (home === worker) this.homes.delete(tenantId);
    for (const [reqId, request] of this.compiles) {
      if (request.worker !== worker) continue;
      this.compiles.delete(reqId);
      clearTimeout(request.timer);
      request.reject(new Error(`the dialplan worker died while compiling (${cause})`));
    }
    if (this.retired.has(worker)) return;

    const reason: RecycleReason = worker.unresponsive ? 'unresponsive' : 'crash';
    this.metrics.recycles.inc({ reason });
    this.recoverInFlight(worker, worker.unresponsive ?? cause);
    this.logger.warn({ workerId: worker.id, pid: worker.pid, cause, reason }, 'dialplan worker died');

    const slot = this.slots.find((s) => s.current === worker || s.next === worker);
    if (!slot || this.stopping) return;
    if (slot.next === worker) {
      slot.next = null;
      slot.current.replacing = false;
    } else if (!slot.next) {
      const respawn = () => {
        if (this.stopping || slot.current !== worker) return;
        slot.current = this.spawn();
      };
      // A worker that cannot even start would otherwise be respawned in a tight loop.
      if (worker.state === 'starting') setTimeout(respawn, RESPAWN_BACKOFF_MS).unref();
      else respawn();
    }
    this.pump();
  }

  /**
   * Settles what a dead worker held. A tenant is blamed only when its code caused the death: the
   * worker named it (quarantined at once; its executions there fail), or the death is unexplained
   * (no report, not killed from outside, not killed by the pool as stuck) and its code was running
   * then, not waiting on the host (its executions there fail; the blame is shared, see Quarantine).
   * Everyone else's executions run again on another worker, resuming from their sessions' journals
   * (see ExecutionSession), up to MAX_RUNS runs in all.
   */
  private recoverInFlight(worker: WorkerProcess, cause: string): void {
    const held = [...worker.inFlight].flatMap((id) => {
      const execution = this.executions.get(id);
      return execution?.worker === worker ? [execution] : [];
    });
    worker.inFlight.clear();
    const lost = worker.lost;
    if (lost) {
      const q = this.quarantine.convict(lost.tenantId, lostReason(lost));
      if (q) this.logger.warn({ tenantId: q.tenantId, until: q.until, reason: q.reason }, 'tenant dialplans quarantined');
    }
    const unexplained = !lost && !worker.unresponsive && !worker.killedFromOutside;
    const suspects = new Set(unexplained ? held.filter((e) => !e.session.waitingOnHost).map((e) => e.request.tenantId) : []);
    const again: Execution[] = [];
    for (const execution of held) {
      const { tenantId } = execution.request;
      if (lost?.tenantId === tenantId) {
        if (lost.kind === 'cpu') this.finish(execution, 'timeout', 0, { message: lost.message });
        else this.finish(execution, 'crashed', 0, { message: `the dialplan failed beyond recovery (${lost.message}); its worker process was ended` });
      } else if (suspects.has(tenantId)) {
        this.finish(execution, 'crashed', 0, { message: `the dialplan worker died while running this call (${cause})` });
      } else if (execution.session.runs >= MAX_RUNS) {
        this.finish(execution, 'crashed', 0, { message: `the dialplan worker died under this call ${MAX_RUNS} times (last: ${cause})` });
      } else if (!execution.session.resumable) {
        this.finish(execution, 'crashed', 0, { message: `the dialplan worker died under this call (${cause}), which read too much to be run again` });
      } else {
        execution.worker = null;
        execution.session.restart();
        execution.log().warn({ cause, run: execution.session.runs }, 'dialplan worker died under this execution; running it again on another');
        this.metrics.reruns.inc();
        again.push(execution);
      }
    }
    // Ahead of the queue: these were admitted before anything waiting there.
    this.queue.unshift(...again);
    for (const q of this.quarantine.blameCrash([...suspects], cause)) {
      this.logger.warn({ tenantId: q.tenantId, until: q.until, reason: q.reason }, 'tenant dialplans quarantined');
    }
  }

  /** Ends an execution here and has its worker drop it. */
  private abandon(execution: Execution, outcome: ExecutionOutcome, error: ExecutionError, kind = failureKind(outcome)): void {
    if (execution.settled) return;
    const index = this.queue.indexOf(execution);
    if (index >= 0) this.queue.splice(index, 1);
    const worker = execution.worker;
    this.finish(execution, outcome, 0, error, kind);
    if (worker?.alive && worker.inFlight.has(execution.request.executionId)) {
      worker.abort(execution.request.executionId, this.limits.abortGraceMs);
    }
    this.metrics.queueDepth.set(this.queue.length);
  }

  private wallTimeout(execution: Execution, message: string): void {
    this.abandon(execution, 'timeout', { message }, 'wall_timeout');
  }

  private finish(execution: Execution, outcome: ExecutionOutcome, cpuMs: number, error?: ExecutionError, kind = failureKind(outcome)): void {
    if (execution.settled) return;
    execution.settled = true;
    for (const timer of execution.timers) clearTimeout(timer);
    execution.session.end();
    const { tenantId, executionId } = execution.request;
    this.executions.delete(executionId);
    const active = (this.tenantActive.get(tenantId) ?? 1) - 1;
    if (active > 0) this.tenantActive.set(tenantId, active);
    else this.tenantActive.delete(tenantId);

    const wallMs = performance.now() - execution.acceptedAt;
    if (kind) this.metrics.failures.inc({ kind });
    this.metrics.duration.observe(wallMs / 1000);
    const logLevel = outcome === 'crashed' || outcome === 'memory' || outcome === 'timeout' ? 'warn' : 'debug';
    if (this.logger.isLevelEnabled(logLevel)) {
      execution.log()[logLevel]({ outcome, error, wallMs: Math.round(wallMs), cpuMs }, 'dialplan execution finished');
    }
    execution.resolve(this.result(execution.session, outcome, cpuMs, wallMs, error));
  }

  private result(session: ExecutionSession, outcome: ExecutionOutcome, cpuMs: number, wallMs: number, error?: ExecutionError): ExecutionResult {
    this.metrics.executions.inc({ outcome });
    return { outcome, ...(error ? { error } : {}), actions: session.actions, logs: session.logs, cpuMs, wallMs };
  }

  /** Refusals are tenant-visible: the reason goes to the tenant's log as well as to ours. */
  private refuse(host: DialplanHost, log: () => Logger, message: string, kind: FailureKind, refusal: RefusalKind): ExecutionResult {
    this.metrics.failures.inc({ kind });
    log().warn({ reason: kind }, message);
    const session = new ExecutionSession(host, this.limits, log, NO_SESSION_EVENTS);
    session.log('warn', message);
    return { ...this.result(session, 'rejected', 0, 0, { message }), refusal };
  }
}

/** What a tenant whose code ended a worker is told, in the portal and in its calls' refusals. */
function lostReason(lost: NonNullable<WorkerProcess['lost']>): string {
  const what = lost.kind === 'cpu' ? 'exceeded its CPU budget in code that could not be interrupted' : `failed beyond recovery inside its sandbox (${lost.message})`;
  return `a dialplan ${what}, and the dialplan worker running it had to be ended`;
}

/** Timeouts reported by a worker are CPU breaches; wall-time ones are decided here. */
function failureKind(outcome: ExecutionOutcome): FailureKind | null {
  switch (outcome) {
    case 'error':
      return 'script_error';
    case 'timeout':
      return 'cpu_timeout';
    case 'memory':
      return 'memory';
    case 'crashed':
      return 'worker_crash';
    default:
      return null;
  }
}
