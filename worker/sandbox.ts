import ivm from 'isolated-vm';
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

function processCpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}
const NEARLY_FULL_HEAP = 0.7;

/**
 * One tenant's isolate inside this worker. Executions of that tenant share it (never another
 * tenant's), each in a fresh context. isolated-vm's own `timeout` misses code that runs after an
 * `await`, so CPU is policed by `checkCpu`, which a worker-wide watchdog calls every few ms: the
 * only thing that stops a running isolate is `dispose()`, which ends every execution in it.
 *
 * A "slice" is the CPU spent since the isolate last made an awaited host call (or since the last
 * execution began). The isolate is single-threaded, so a slice that overruns belongs to code of
 * this tenant that has not yielded.
 *
 * `isolate.cpuTime` advances with the wall clock while the isolate runs, so on a busy machine a
 * preempted isolate looks busier than it is. An overrun therefore also needs the whole worker
 * process to have burnt the budget in real CPU since the slice began.
 */
export class TenantSandbox {
  private readonly isolate: ivm.Isolate;
  private readonly live = new Set<string>();
  private sliceStart = 0n;
  /** CPU of the whole process (µs) when the slice began: an upper bound on what the isolate used. */
  private sliceStartProcessCpu = 0;
  private lastCpu = 0n;
  private disposedFor: DisposeReason | null = null;
  /** Last known heap use as a share of the limit, sampled whenever the isolate is between tasks. */
  private heapShare = 0;
  private heapSampling = false;
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
    this.sliceStartProcessCpu = processCpuMicros();
    this.sampleHeap();
  }

  /** Answered only once the isolate is between tasks, so a busy loop simply keeps the last value. */
  private sampleHeap(): void {
    if (this.heapSampling || this.isolate.isDisposed) return;
    this.heapSampling = true;
    this.isolate.getHeapStatistics().then(
      (s) => {
        this.heapShare = s.used_heap_size / s.heap_size_limit;
        this.heapSampling = false;
      },
      () => {},
    );
  }

  /**
   * Called by the watchdog; disposes the isolate when the current slice is over budget. Close to
   * its heap limit V8 spends the budget on garbage collection before isolated-vm's memory check
   * fires, so an overrun with a nearly full heap counts as running out of memory.
   */
  checkCpu(): void {
    if (this.live.size === 0 || this.isolate.isDisposed) return;
    const budgetMs = this.config.cpuMsPerSlice;
    const sliceMs = Number(this.cpu() - this.sliceStart) / 1e6;
    if (sliceMs > budgetMs && (processCpuMicros() - this.sliceStartProcessCpu) / 1000 > budgetMs) {
      this.dispose(this.heapShare > NEARLY_FULL_HEAP ? 'memory' : 'timeout');
      return;
    }
    this.sampleHeap();
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
      const start = await context.evalClosure(PRELUDE, [hostRef, logRef, msg.call, msg.timeZone, limits], {
        arguments: { copy: true },
        result: { reference: true },
      });
      held.push(start);
      this.markSliceStart();
      const module = await this.isolate.compileModule(msg.source, { filename: DIALPLAN_FILENAME });
      this.markSliceStart();
      held.push(module);
      await module.instantiate(context, (specifier) => {
        throw new Error(`imports are not available in dialplans (import '${specifier}')`);
      });
      this.markSliceStart();
      await module.evaluate({ timeout: this.config.cpuMsPerSlice });
      const resultJson: unknown = await start.apply(undefined, [module.namespace.derefInto()], {
        result: { promise: true },
      });
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
