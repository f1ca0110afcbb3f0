import ivm from 'isolated-vm';
import { busiestThreadMs, type ThreadCpu } from './cpuClock.ts';
import { PRELUDE } from './prelude.ts';
import type { HostOp, RunMessage, WorkerConfig, WorkerLogLevel, WorkerOutcome } from './protocol.ts';

/** Name given to tenant modules; stack frames and syntax errors refer to it. */
export const DIALPLAN_FILENAME = 'dialplan.js';

/** Stops an execution that keeps the host busy without end (its cap is enforced in the prelude). */
const MAX_HOST_OPS = 1000;

export interface ExecutionIo {
  /** Resolves with the reply JSON (`{ok, value}` / `{ok: false, message}`); never rejects. */
  hostCall(op: HostOp, argsJson: string): Promise<string>;
  log(level: WorkerLogLevel, message: string): void;
}

export interface ExecutionReport {
  outcome: WorkerOutcome;
  error?: { message: string; line?: number; column?: number };
  cpuMs: number;
}

type DisposeReason = 'timeout' | 'memory' | 'aborted' | 'idle';

const MAX_ERROR_CHARS = 2000;

const NEARLY_FULL_HEAP = 0.7;

/**
 * One tenant's isolate inside this worker. Executions of that tenant share it (never another
 * tenant's), each in a fresh context. isolated-vm's own `timeout` misses code that runs after an
 * `await`, so CPU is policed by `checkCpu`, which a worker-wide watchdog calls every few ms: the
 * only thing that stops a running isolate is `dispose()`, which ends every execution in it.
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
  /** Last known heap use as a share of the limit, sampled by the watchdog between tasks. */
  private heapShare = 0;
  private heapSampling = false;
  /** Last sampled heap size (bytes): the share of the worker's RSS that this isolate explains. */
  heapBytes = 0;
  /**
   * isolated-vm keeps a per-isolate table of modules without a lock: compiling a module adds to it
   * on the isolate's thread, releasing one removes from it on this thread. Done at the same time
   * they corrupt it (SIGSEGV, or SIGABRT in ~ModuleInfo under load), so a module is released only
   * while no compile is in flight in its isolate.
   */
  private compiling = 0;
  private readonly unreleasedModules: ivm.Module[] = [];
  private preludeScript: Promise<ivm.Script> | null = null;
  /** No new executions; disposed once the live ones end. */
  retiring = false;
  lastUsed = Date.now();

  constructor(
    readonly tenantId: string,
    private readonly config: WorkerConfig,
  ) {
    this.isolate = new ivm.Isolate({ memoryLimit: config.heapMb });
  }

  get usable(): boolean {
    return !this.retiring && !this.isolate.isDisposed;
  }

  get liveCount(): number {
    return this.live.size;
  }

  get disposed(): boolean {
    return this.isolate.isDisposed;
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

  /** Answered only once the isolate is between tasks, so a busy loop simply keeps the last value. */
  private sampleHeap(): void {
    if (this.heapSampling || this.isolate.isDisposed) return;
    this.heapSampling = true;
    this.isolate.getHeapStatistics().then(
      (s) => {
        this.heapShare = s.used_heap_size / s.heap_size_limit;
        this.heapBytes = s.total_heap_size + s.externally_allocated_size;
        this.heapSampling = false;
      },
      () => {},
    );
  }

  /**
   * Called by the watchdog with a fresh `sampleThreadCpu()`; disposes the isolate when the current
   * slice is over budget. Close to its heap limit V8 spends the budget on garbage collection before
   * isolated-vm's memory check fires, so an overrun with a nearly full heap counts as running out
   * of memory.
   */
  checkCpu(threads: ThreadCpu): void {
    if (this.live.size === 0 || this.isolate.isDisposed || this.confirming) return;
    this.sliceCpuBaseline ??= threads;
    if (!this.overBudget(threads)) {
      this.sampleHeap();
      return;
    }
    const suspected = this.sliceSeq;
    this.confirming = true;
    setImmediate(() => {
      this.confirming = false;
      if (this.sliceSeq !== suspected || this.live.size === 0 || this.isolate.isDisposed) return;
      this.dispose(this.heapShare > NEARLY_FULL_HEAP ? 'memory' : 'timeout');
    });
  }

  private overBudget(threads: ThreadCpu): boolean {
    const budgetMs = this.config.cpuMsPerSlice;
    const sliceMs = Number(this.cpu() - this.sliceStart) / 1e6;
    return sliceMs > budgetMs && busiestThreadMs(this.sliceCpuBaseline ?? threads, threads) > budgetMs;
  }

  dispose(reason: DisposeReason): void {
    if (this.isolate.isDisposed) return;
    this.disposedFor ??= reason;
    this.retiring = true;
    this.isolate.dispose();
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

  async execute(msg: RunMessage, io: ExecutionIo): Promise<ExecutionReport> {
    this.live.add(msg.id);
    this.lastUsed = Date.now();
    const cpuAtStart = this.cpu();
    const cpuMs = () => Number(this.cpu() - cpuAtStart) / 1e6;
    const held: Array<{ release(): void }> = [];
    try {
      // Set-up runs on the isolate thread too; each finished step ends a slice, so neither this
      // execution nor a concurrent one of the tenant is charged for the host's own work.
      const context = await this.isolate.createContext();
      this.markSliceStart();
      held.push(context);
      const hostRef = new ivm.Reference(async (op: HostOp, argsJson: string) => {
        this.markSliceStart();
        return io.hostCall(op, argsJson);
      });
      const logRef = new ivm.Reference((level: WorkerLogLevel, message: string) => io.log(level, message));
      held.push(hostRef, logRef);
      const limits = {
        maxHostOps: MAX_HOST_OPS,
        maxLogLines: this.config.maxLogLines,
        maxLogChars: this.config.maxLogChars,
      };
      const setup = await (await this.prelude()).run(context, { reference: true });
      held.push(setup);
      const start = await setup.apply(undefined, [hostRef, logRef, msg.call, msg.timeZone, limits], {
        arguments: { copy: true },
        result: { reference: true },
      });
      held.push(start);
      this.markSliceStart();
      const module = await this.compileModule(msg.source);
      this.markSliceStart();
      held.push({ release: () => this.releaseModule(module) });
      await module.instantiate(context, (specifier) => {
        throw new Error(`imports are not available in dialplans (import '${specifier}')`);
      });
      this.markSliceStart();
      await module.evaluate({ timeout: this.config.cpuMsPerSlice });
      const namespace = module.namespace;
      held.push(namespace);
      const resultJson: unknown = await start.apply(undefined, [namespace.derefInto()], {
        result: { promise: true },
      });
      this.markSliceStart();
      const result = JSON.parse(String(resultJson)) as { ok: boolean; message?: string; stack?: string };
      if (result.ok) return { outcome: 'completed', cpuMs: cpuMs() };
      return { outcome: 'error', error: locate(result.message ?? 'error', result.stack ?? ''), cpuMs: cpuMs() };
    } catch (err) {
      return { ...this.failure(err), cpuMs: cpuMs() };
    } finally {
      this.live.delete(msg.id);
      this.lastUsed = Date.now();
      if (!this.isolate.isDisposed) for (const h of held) h.release();
      if (this.retiring && this.live.size === 0) this.dispose('idle');
    }
  }

  private prelude(): Promise<ivm.Script> {
    this.preludeScript ??= this.isolate.compileScript(PRELUDE, { filename: 'prelude.js' });
    return this.preludeScript;
  }

  private async compileModule(source: string): Promise<ivm.Module> {
    this.compiling += 1;
    try {
      return await this.isolate.compileModule(source, { filename: DIALPLAN_FILENAME });
    } finally {
      this.compiling -= 1;
      if (this.compiling === 0 && !this.isolate.isDisposed) {
        for (const module of this.unreleasedModules.splice(0)) module.release();
      }
    }
  }

  private releaseModule(module: ivm.Module): void {
    if (this.compiling > 0) this.unreleasedModules.push(module);
    else module.release();
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

const POSITION_IN_MESSAGE = new RegExp(`\\s*\\[${DIALPLAN_FILENAME.replace('.', '\\.')}:(\\d+):(\\d+)\\]`);
const POSITION_IN_STACK = new RegExp(`${DIALPLAN_FILENAME.replace('.', '\\.')}:(\\d+):(\\d+)`);

/**
 * Finds where in the tenant's source an error happened: compile errors carry `[dialplan.js:L:C]`
 * in their message, runtime errors in their first stack frame from the module.
 */
export function locate(rawMessage: string, stack: string): { message: string; line?: number; column?: number } {
  const inMessage = POSITION_IN_MESSAGE.exec(rawMessage);
  const message = rawMessage.replace(POSITION_IN_MESSAGE, '').slice(0, MAX_ERROR_CHARS);
  const position = inMessage ?? POSITION_IN_STACK.exec(stack);
  if (!position) return { message };
  return { message, line: Number(position[1]), column: Number(position[2]) };
}
