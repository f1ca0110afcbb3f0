import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { DiscardReason, FromWorker, RunMessage, ToWorker, WorkerConfig } from '../../worker/protocol.ts';
import type { RecyclePolicy } from './options.ts';
import type { WorkerStats } from './types.ts';

const WORKER_ENTRY = fileURLToPath(new URL('../../worker/main.ts', import.meta.url));
/**
 * isolated-vm needs no startup snapshot; WebAssembly memory escapes its heap limit. Without
 * asm.js validation V8 also stops building the (hidden) WebAssembly API into every new context,
 * 15 % of `createContext`; asm.js code still runs, as plain JavaScript.
 */
export const WORKER_EXEC_ARGV = ['--no-node-snapshot', '--noexpose-wasm', '--no-validate-asm', '--import', 'tsx'];
const STDERR_TAIL = 2048;
/** Version keys remembered per worker; past this the oldest version's source is sent in full again. */
const KNOWN_SOURCES = 1024;

export interface WorkerEvents {
  message(worker: WorkerProcess, message: FromWorker): void;
  /** The process is gone, whoever ended it. */
  exit(worker: WorkerProcess, cause: string): void;
  unresponsive(worker: WorkerProcess, why: string): void;
}

/**
 * One forked worker process and what the dispatcher tracks about it. It never decides policy
 * (recycling, blame): it reports events and lets the pool act.
 */
export class WorkerProcess {
  state: WorkerStats['state'] = 'starting';
  /** A replacement is starting; this worker keeps serving until it is ready. */
  replacing = false;
  /** Executions the worker holds (until it reports them done, even after they were timed out). */
  readonly inFlight = new Set<string>();
  completed = 0;
  rssBytes: number | undefined;
  isolateHeapBytes: number | undefined;
  /** From the last probe: warm contexts now, and discarded since the worker started (by reason). */
  warmContexts: number | undefined;
  warmDiscarded: Record<DiscardReason, number> | undefined;
  /** Why the pool killed it as stuck, if it did. */
  unresponsive: string | null = null;
  /** The worker reported that a tenant's code put its isolate beyond control (and ended itself). */
  lost: { tenantId: string; kind: 'abort' | 'cpu'; message: string } | null = null;
  /** How the process ended; null while it runs (or if it exited with a code). */
  exitSignal: NodeJS.Signals | null = null;
  private killedHere = false;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  private markExited!: () => void;
  private readonly failures: number[] = [];
  private readonly child: ChildProcess;
  private readonly abortTimers = new Map<string, NodeJS.Timeout>();
  private probeTimer: NodeJS.Timeout | undefined;
  private probeSeq = 0;
  private lastProbeReply = Date.now();
  private stderr = '';
  private gone = false;
  private outbox: ToWorker[] = [];
  /**
   * Keys of the versions this worker was sent the source of, least recently used first, so a run can leave the
   * source out. A guess: the worker may have evicted one, and then asks for it (`need-source`).
   */
  private readonly sources = new Map<string, true>();

  constructor(
    readonly id: number,
    config: WorkerConfig,
    private readonly policy: RecyclePolicy,
    private readonly events: WorkerEvents,
  ) {
    this.exited = new Promise<void>((resolve) => (this.markExited = resolve));
    this.child = fork(WORKER_ENTRY, [JSON.stringify(config)], {
      execArgv: WORKER_EXEC_ARGV,
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      serialization: 'json',
    });
    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-STDERR_TAIL);
    });
    this.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`worker did not start within ${policy.startTimeoutMs} ms`));
        this.kill();
      }, policy.startTimeoutMs);
      this.child.on('message', (batch) => {
        for (const message of batch as FromWorker[]) {
          if (message.t === 'ready' && this.state === 'starting') {
            clearTimeout(timer);
            this.state = 'active';
            this.startProbes();
            resolve();
            continue;
          }
          if (message.t === 'probe-reply') {
            this.lastProbeReply = Date.now();
            this.rssBytes = message.rssBytes;
            this.isolateHeapBytes = message.isolateHeapBytes;
            this.warmContexts = message.warmContexts;
          }
          this.events.message(this, message);
        }
      });
      // 'close', not 'exit': it comes after the IPC channel has delivered everything the worker
      // sent, such as the report of a tenant that broke it, sent right before it ended itself.
      this.child.on('close', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`worker exited during start-up (${signal ?? `code ${code}`})`));
        this.onExit(code, signal);
      });
      this.child.on('error', (err) => this.events.unresponsive(this, `process error: ${err.message}`));
    });
    // Callers that do not wait on start-up must not turn its failure into an unhandled rejection.
    this.ready.catch(() => {});
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return !this.gone;
  }

  /** The last lines the worker wrote to stderr (V8 fatal errors end up there). */
  get stderrTail(): string {
    return this.stderr.trim().split('\n').slice(-3).join(' | ');
  }

  /** Queues a message; everything queued in this event-loop turn leaves as one IPC batch. */
  send(message: ToWorker): void {
    if (this.gone) return;
    if (this.outbox.push(message) === 1) setImmediate(() => this.flush());
  }

  private flush(): void {
    const batch = this.outbox;
    this.outbox = [];
    if (this.gone || !this.child.connected) return;
    this.child.send(batch, (err) => {
      if (err) this.events.unresponsive(this, `IPC send failed: ${err.message}`);
    });
  }

  /** Runs an execution here, with its source only if the worker is not known to have it. */
  run(message: Omit<RunMessage, 'source'>, source: string, resend = false): void {
    const known = !resend && this.sources.delete(message.versionKey);
    this.sources.set(message.versionKey, true);
    if (this.sources.size > KNOWN_SOURCES) this.sources.delete(this.sources.keys().next().value as string);
    this.send(known ? message : { ...message, source });
  }

  /** Asks the worker to drop an execution; if it does not confirm in time it is deemed stuck. */
  abort(executionId: string, graceMs: number): void {
    this.send({ t: 'abort', id: executionId });
    this.abortTimers.set(
      executionId,
      setTimeout(() => this.events.unresponsive(this, `no answer to abort within ${graceMs} ms`), graceMs),
    );
  }

  /** The worker reported an execution done. */
  release(executionId: string): void {
    this.inFlight.delete(executionId);
    clearTimeout(this.abortTimers.get(executionId));
    this.abortTimers.delete(executionId);
  }

  /** Counts an isolate disposal; true when the worker has failed too often lately. */
  recordFailure(now = Date.now()): boolean {
    this.failures.push(now);
    while ((this.failures[0] ?? now) < now - this.policy.failureWindowMs) this.failures.shift();
    return this.failures.length >= this.policy.failures;
  }

  kill(): void {
    if (this.gone) return;
    this.killedHere = true;
    this.child.kill('SIGKILL');
  }

  /**
   * Ended with SIGKILL by someone other than the pool (the worker itself does so only after
   * reporting why): the operator, or the kernel's out-of-memory killer. No tenant did that.
   */
  get killedFromOutside(): boolean {
    return this.exitSignal === 'SIGKILL' && !this.killedHere && this.lost === null;
  }

  stats(): WorkerStats {
    return {
      id: this.id,
      pid: this.pid,
      state: this.state,
      inFlight: this.inFlight.size,
      completed: this.completed,
      rssBytes: this.rssBytes,
      isolateHeapBytes: this.isolateHeapBytes,
      warmContexts: this.warmContexts,
    };
  }

  private startProbes(): void {
    this.lastProbeReply = Date.now();
    this.probeTimer = setInterval(() => {
      const silentMs = Date.now() - this.lastProbeReply;
      if (silentMs > this.policy.probeTimeoutMs) {
        this.events.unresponsive(this, `no health probe answer for ${silentMs} ms`);
        return;
      }
      this.send({ t: 'probe', seq: ++this.probeSeq });
    }, this.policy.probeIntervalMs);
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.gone = true;
    this.exitSignal = signal;
    this.markExited();
    clearInterval(this.probeTimer);
    for (const timer of this.abortTimers.values()) clearTimeout(timer);
    this.abortTimers.clear();
    const tail = this.stderrTail;
    this.events.exit(this, `${signal ? `signal ${signal}` : `exit code ${code}`}${tail ? `: ${tail}` : ''}`);
  }
}
