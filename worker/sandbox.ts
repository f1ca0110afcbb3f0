import ivm from 'isolated-vm';
import { busiestThreadMs, threadsOver, type ThreadCpu } from './cpuClock.ts';
import { locate, SCRIPT_ORIGIN } from './compile.ts';
import { executable } from './prelude.ts';
import type { DiscardReason, HostOp, RunMessage, WorkerConfig, WorkerLogLevel, WorkerOutcome } from './protocol.ts';
import { WarmPool, type WarmContext } from './warm.ts';

/** Stops an execution that keeps the host busy without end (its cap is enforced in the prelude). */
const MAX_HOST_OPS = 1000;

export interface ExecutionIo {
  /** Resolves with the reply JSON (`{ok, value}` / `{ok: false, message}`); never rejects. */
  hostCall(op: HostOp, argsJson: string): Promise<string>;
  log(level: WorkerLogLevel, message: string): void;
}

/** What a sandbox tells its worker about faults that only ending the process can contain. */
export interface SandboxEvents {
  /**
   * This tenant's code left the isolate beyond control: V8 gave up on it (`abort`, e.g. one
   * allocation larger than any heap), or it kept running in native code after being disposed
   * (`cpu`, e.g. a regular expression with tens of thousands of groups).
   */
  lost(kind: 'abort' | 'cpu', message: string): void;
  /** A warm context was discarded (counted for the dispatcher's metrics). */
  discarded(reason: DiscardReason): void;
}

export interface ExecutionReport {
  outcome: WorkerOutcome;
  error?: { message: string; line?: number; column?: number };
  cpuMs: number;
}

type DisposeReason = 'timeout' | 'memory' | 'aborted' | 'idle';

interface Stopping {
  since: ThreadCpu | null;
  /** The threads that ran the budget during the overrun: the isolate's is one of them. */
  threads: ReadonlySet<number>;
}

const NEARLY_FULL_HEAP = 0.7;
/**
 * After a disposal, CPU (ms) one thread may still burn before the isolate counts as lost, as a
 * share of the slice budget: termination takes effect at V8's next interrupt check, microseconds
 * for JavaScript, but never inside a regular expression's compilation or match.
 */
const LOST_AFTER_BUDGETS = 2;
const LOST_AFTER_MIN_MS = 100;
const HEAP_SAMPLE_MS = 100;
/** Past this share of the limit the heap is sampled on every watchdog tick. */
const HEAP_SAMPLE_EVERY_TICK = 0.4;
/** How often idle warm contexts are looked for. */
const SWEEP_MS = 1000;

/** `start(host, call, timeZone)`: copies in (the Reference crosses as itself), the result JSON out once settled. */
const START_OPTIONS = { arguments: { copy: true }, result: { promise: true } } as const;

/**
 * One tenant's isolate inside this worker. Executions of that tenant share it (never another
 * tenant's), each in a warm context of its dialplan version that runs one execution at a time
 * (`WarmPool`). isolated-vm's own `timeout` misses code that runs after an `await`, so CPU is
 * policed by `checkCpu`, which a worker-wide watchdog calls every few ms: the only thing that
 * stops a running isolate is `dispose()`, which ends every execution and context in it.
 *
 * A "slice" is the isolate's `cpuTime` since this thread last saw it make progress: an awaited
 * host call, a finished set-up step, a finished execution. The isolate is single-threaded, so a
 * slice that overruns belongs to code of this tenant that has not yielded.
 *
 * Two things make `cpuTime` overstate a slice, and both used to kill healthy executions under
 * load. The progress that ends a slice is only seen when this thread's event loop gets to it, and
 * timers run before the loop delivers isolate completions, so a late watchdog tick sees stale
 * slices: an overrun is confirmed in `setImmediate`, after the completions were delivered, and
 * only if no progress arrived meanwhile. And the part of `cpuTime` still being measured is wall
 * time (isolated-vm reads the thread's CPU clock only when the isolate unlocks), so a preempted
 * isolate looks busy: some single thread must also have burnt the budget in real CPU
 * (`cpuClock.ts`) since the first tick of the slice. Code that does not yield stays on one thread,
 * so a real busy loop passes this as soon as it has had the budget; on a saturated machine no
 * thread gets that much CPU in so short a time, which is exactly when false alarms came. The sum
 * over threads, or the process's CPU, would not do: with several tenants busy at once they pass
 * the budget together while each isolate is well within it.
 *
 * The worker's own work on the isolate (heap samples, contexts made ahead, compiles) runs on the
 * isolate thread too and advances `cpuTime`: each such task ends a slice when it completes. Tasks
 * run one at a time and tenant code gives the thread back only by calling the host (which ends a
 * slice as well) or by finishing, so nothing of the tenant's is forgiven that way; without it, a
 * dialplan waiting on a ringing dial was charged a heap sample every 100 ms and ended as a CPU
 * overrun after 30-60 s.
 *
 * Disposal does not stop native code (a regular expression runs to its end, seconds): after an
 * overrun, a task queued just before disposing settles only once the thread lets go of the
 * isolate, and while it has not, the watchdog keeps measuring the threads that ran the overrun;
 * past LOST_AFTER_BUDGETS more slices of one's CPU the isolate is reported lost, and the worker
 * ends itself. So does V8's catastrophic error (one allocation beyond any heap).
 */
export class TenantSandbox {
  private readonly isolate: ivm.Isolate;
  private readonly live = new Set<string>();
  private sliceStart = 0n;
  /** Counts slices, so a confirmation can tell whether progress arrived since the suspicion. */
  private sliceSeq = 0;
  /** Threads' CPU at the first watchdog tick of the slice; null until that tick. */
  private sliceCpuBaseline: ThreadCpu | null = null;
  private confirming = false;
  private lastCpu = 0n;
  private disposedFor: DisposeReason | null = null;
  /** Disposed for a CPU overrun, but the isolate thread has not let go yet. */
  private stopping: Stopping | null = null;
  private lostReported = false;
  /** Last known heap use as a share of the limit, sampled by the watchdog between tasks. */
  private heapShare = 0;
  private heapSampling = false;
  private heapSampledAt = 0;
  /** Last sampled heap size (bytes): the share of the worker's RSS that this isolate explains. */
  heapBytes = 0;
  /** Warm contexts by dialplan version. */
  private readonly pool: WarmPool;
  private sweptAt = Date.now();
  /** No new executions; disposed once the live ones end. */
  retiring = false;
  lastUsed = Date.now();

  constructor(
    readonly tenantId: string,
    private readonly config: WorkerConfig,
    private readonly events: SandboxEvents,
  ) {
    // Called on the main thread while the isolate's thread sleeps forever holding its lock (see
    // isolated-vm's OOMErrorCallback); without it V8 aborts the whole process.
    this.isolate = new ivm.Isolate({ memoryLimit: config.heapMb, onCatastrophicError: (message) => this.lose('abort', message) });
    const limits = { maxHostOps: MAX_HOST_OPS, maxLogLines: config.maxLogLines, maxLogChars: config.maxLogChars };
    const isolate = this.isolate;
    // Each of these is a task of the worker's own on the isolate thread (see `ownTask`).
    this.pool = new WarmPool(
      {
        compile: (code) => this.ownTask(isolate.compileScript(executable(code, limits), SCRIPT_ORIGIN)),
        createContext: () => this.ownTask(isolate.createContext()),
        install: (script, context) => this.ownTask(script.run(context, { reference: true })),
        get disposed() {
          return isolate.isDisposed;
        },
        discarded: (reason) => events.discarded(reason),
      },
      { maxExecutions: config.warmExecutions, idleMs: config.warmIdleMs },
    );
  }

  /** Warm contexts alive in this isolate. */
  get warmContexts(): number {
    return this.pool.size;
  }

  get usable(): boolean {
    return !this.retiring && !this.isolate.isDisposed;
  }

  get liveCount(): number {
    return this.live.size;
  }

  /** Disposed, and its thread has let go of it. */
  get disposed(): boolean {
    return this.isolate.isDisposed && this.stopping === null;
  }

  /** Disposed while its thread may still be running it: the watchdog keeps measuring. */
  get lingering(): boolean {
    return this.stopping !== null;
  }

  private lose(kind: 'abort' | 'cpu', message: string): void {
    if (this.lostReported) return;
    this.lostReported = true;
    this.events.lost(kind, message);
  }

  /** Whether the isolate used CPU since the last call: the watchdog's cheap test before sampling threads. */
  cpuAdvanced(): boolean {
    const before = this.lastCpu;
    return this.cpu() !== before;
  }

  private cpu(): bigint {
    if (!this.isolate.isDisposed) this.lastCpu = this.isolate.cpuTime;
    return this.lastCpu;
  }

  private markSliceStart(): void {
    this.sliceStart = this.cpu();
    this.sliceSeq += 1;
    this.sliceCpuBaseline = null;
  }

  /**
   * The watchdog's upkeep on every tick: samples the heap of an isolate that has run something since
   * its last sample, and now and then discards warm contexts left idle too long.
   */
  maintain(now: number): void {
    if (this.isolate.isDisposed) return;
    if (this.live.size > 0 || this.lastUsed >= this.heapSampledAt) this.sampleHeap(now);
    if (now - this.sweptAt >= SWEEP_MS) {
      this.sweptAt = now;
      this.pool.sweep(now);
    }
  }

  /**
   * Answered only once the isolate is between tasks, so a busy loop simply keeps the last value.
   * Each sample is a task on the isolate thread (4 % of a busy worker's main thread when taken on
   * every tick), so a heap well below the limit is sampled only every HEAP_SAMPLE_MS. Over the warm
   * limit, the isolate's warm contexts are discarded (module state a dialplan keeps growing).
   */
  private sampleHeap(now: number): void {
    if (this.heapSampling || this.confirming) return;
    if (this.heapShare < HEAP_SAMPLE_EVERY_TICK && now - this.heapSampledAt < HEAP_SAMPLE_MS) return;
    this.heapSampling = true;
    this.heapSampledAt = now;
    this.ownTask(this.isolate.getHeapStatistics()).then(
      (s) => {
        this.heapShare = s.used_heap_size / s.heap_size_limit;
        this.heapBytes = s.total_heap_size + s.externally_allocated_size;
        this.heapSampling = false;
        this.pool.heap(s.used_heap_size > this.config.warmHeapMb * 1024 * 1024);
      },
      () => {},
    );
  }

  /** Work of the worker's own on the isolate thread: once it is done, what ran before is accounted for. */
  private ownTask<T>(task: Promise<T>): Promise<T> {
    const mark = () => {
      if (!this.isolate.isDisposed) this.markSliceStart();
    };
    task.then(mark, mark);
    return task;
  }

  /**
   * Called by the watchdog with a fresh `sampleThreadCpu()`; disposes the isolate when the current
   * slice is over budget. Close to its heap limit V8 spends the budget on garbage collection before
   * isolated-vm's memory check fires, so an overrun with a nearly full heap counts as running out
   * of memory.
   *
   * An isolate with no live execution is policed too: code a dialplan left behind (say
   * `store.get(k).finally(() => { for (;;) {} })`) used to run once the ended execution's host calls
   * were settled and keep a core busy until the isolate went idle, 60 s later. The prelude now
   * never resumes an ended execution's code; this stays as a second line.
   */
  checkCpu(threads: ThreadCpu): void {
    if (this.stopping) return this.checkStopped(threads);
    if (this.isolate.isDisposed || this.confirming) return;
    this.sliceCpuBaseline ??= threads;
    if (!this.overBudget(threads)) return;
    const suspected = this.sliceSeq;
    const hot = threadsOver(this.sliceCpuBaseline ?? threads, threads, this.config.cpuMsPerSlice);
    this.confirming = true;
    setImmediate(() => {
      this.confirming = false;
      if (this.sliceSeq !== suspected || this.isolate.isDisposed) return;
      this.dispose(this.heapShare > NEARLY_FULL_HEAP ? 'memory' : 'timeout', hot);
    });
  }

  private overBudget(threads: ThreadCpu): boolean {
    const budgetMs = this.config.cpuMsPerSlice;
    const sliceMs = Number(this.cpu() - this.sliceStart) / 1e6;
    return sliceMs > budgetMs && busiestThreadMs(this.sliceCpuBaseline ?? threads, threads) > budgetMs;
  }

  /**
   * For a CPU overrun (`hotThreads` given), that the isolate's work ended is confirmed by a task
   * queued just before disposal, which settles once the isolate thread lets go. Other disposals
   * need no watching: nothing of the tenant's was found running (code left running is policed
   * like any other, and reaches this as an overrun).
   */
  dispose(reason: DisposeReason, hotThreads?: ReadonlySet<number>): void {
    if (this.isolate.isDisposed) return;
    this.disposedFor ??= reason;
    this.retiring = true;
    if (hotThreads) {
      const stopping: Stopping = { since: null, threads: hotThreads };
      this.stopping = stopping;
      const stopped = () => {
        if (this.stopping === stopping) this.stopping = null;
      };
      this.isolate.getHeapStatistics().then(stopped, stopped);
    }
    this.isolate.dispose();
    this.pool.clear();
  }

  /**
   * Disposed but still running: lost once one thread that could be the isolate's has burnt
   * LOST_AFTER_BUDGETS more slices. (Were it another tenant's thread, this isolate's would have had
   * the CPU to let go meanwhile: termination takes effect at once in JavaScript.)
   */
  private checkStopped(threads: ThreadCpu): void {
    const stopping = this.stopping;
    if (!stopping || this.confirming) return;
    stopping.since ??= threads;
    const limitMs = Math.max(LOST_AFTER_MIN_MS, LOST_AFTER_BUDGETS * this.config.cpuMsPerSlice);
    if (busiestThreadMs(stopping.since, threads, stopping.threads) <= limitMs) return;
    // As for overruns: confirmed after the event loop has delivered completions a late tick missed.
    this.confirming = true;
    setImmediate(() => {
      this.confirming = false;
      if (this.stopping !== stopping) return;
      this.lose('cpu', `CPU budget exceeded: more than ${this.config.cpuMsPerSlice} ms without yielding, in code that could not be interrupted`);
    });
  }

  /**
   * Abandons an execution whose wall time ran out. A context cannot be stopped on its own, and one
   * left awaiting forever is never collected, so its isolate is disposed now if nothing else runs
   * there, or as soon as the rest finish.
   */
  abandon(executionId: string): void {
    if (!this.live.delete(executionId)) return;
    this.retiring = true;
    if (this.live.size === 0) this.dispose('aborted');
  }

  /**
   * Runs one execution of `dialplan` (from `Compiler.prepare`, named by the run's `versionKey`) in
   * a warm context of that version: one isolate task hands in the host Reference, the call facts
   * and the time zone and runs it (the dialplan's top level first, in a context new to it).
   */
  async execute(msg: RunMessage, dialplan: { code: string; lines: number }, io: ExecutionIo): Promise<ExecutionReport> {
    this.live.add(msg.id);
    this.lastUsed = Date.now();
    const cpuAtStart = this.cpu();
    const cpuMs = () => Number(this.cpu() - cpuAtStart) / 1e6;
    let warm: WarmContext | null = null;
    let host: ivm.Reference | null = null;
    let completed = false;
    try {
      // Set-up runs on the isolate thread too; each finished step ends a slice, so neither this
      // execution nor a concurrent one of the tenant is charged for the host's own work.
      warm = await this.pool.acquire(msg.versionKey, dialplan.code);
      host = new ivm.Reference((op: HostOp | 'log', argsJsonOrLevel: string, message?: string) => {
        if (op === 'log') return io.log(argsJsonOrLevel as WorkerLogLevel, String(message));
        this.markSliceStart();
        return io.hostCall(op, argsJsonOrLevel);
      });
      this.markSliceStart();
      const result = warm.start.apply(undefined, [host, msg.call, msg.timeZone], START_OPTIONS);
      // Queued behind this execution's start, a context made ahead is prepared in the same wake-up,
      // while this execution waits on its first host call.
      this.pool.prepareAhead(warm);
      const resultJson: unknown = await result;
      this.markSliceStart();
      const outcome = JSON.parse(String(resultJson)) as { ok: boolean; message?: string; stack?: string };
      if (outcome.ok) {
        completed = true;
        return { outcome: 'completed', cpuMs: cpuMs() };
      }
      return { outcome: 'error', error: locate(outcome.message ?? 'error', outcome.stack ?? '', dialplan.lines), cpuMs: cpuMs() };
    } catch (err) {
      return { ...this.failure(err), cpuMs: cpuMs() };
    } finally {
      this.live.delete(msg.id);
      this.lastUsed = Date.now();
      if (!this.isolate.isDisposed) host?.release();
      if (warm) this.pool.release(warm, !completed);
      if (this.retiring && this.live.size === 0) this.dispose('idle');
    }
  }

  private failure(err: unknown): Omit<ExecutionReport, 'cpuMs'> {
    const message = err instanceof Error ? err.message : String(err);
    if (this.isolate.isDisposed) {
      if (this.disposedFor === 'timeout') {
        return { outcome: 'timeout', error: { message: `CPU budget exceeded: more than ${this.config.cpuMsPerSlice} ms without yielding` } };
      }
      if (this.disposedFor === null || this.disposedFor === 'memory' || /memory limit/i.test(message)) {
        return { outcome: 'memory', error: { message: `memory limit exceeded (${this.config.heapMb} MB)` } };
      }
      return { outcome: 'timeout', error: { message: 'execution abandoned' } };
    }
    if (/execution timed out/i.test(message)) {
      return { outcome: 'timeout', error: { message: `CPU budget exceeded: more than ${this.config.cpuMsPerSlice} ms without yielding` } };
    }
    const name = err instanceof Error && err.name !== 'Error' ? `${err.name}: ` : '';
    return { outcome: 'error', error: locate(name + message, err instanceof Error ? (err.stack ?? '') : '') };
  }
}
