/**
 * Messages between the dispatcher (server/dialplan) and a dialplan worker process, over the
 * `child_process.fork` IPC channel (JSON). Each IPC message is a batch: an array of these, in
 * order, holding what one side produced in one event-loop turn (one write and one parse instead
 * of several). Shared by both sides; imports nothing else, so the worker never loads server code.
 */

/** Passed as the worker's single command-line argument, JSON-encoded. */
export interface WorkerConfig {
  /** CPU an isolate may burn without yielding to the host before it is disposed. */
  cpuMsPerSlice: number;
  heapMb: number;
  watchdogIntervalMs: number;
  /** An isolate nobody used for this long is disposed (1 MiB+ each). */
  idleIsolateMs: number;
  maxLogLines: number;
  maxLogChars: number;
  /** A warm context is discarded after this many executions (1: a fresh context for each). */
  warmExecutions: number;
  /** A warm context nobody used for this long is discarded. */
  warmIdleMs: number;
  /** While the isolate's heap is above this, its warm contexts are discarded instead of reused. */
  warmHeapMb: number;
}

/** Why a warm context was discarded (see worker/warm.ts). */
export type DiscardReason = 'count' | 'idle' | 'failure' | 'heap' | 'version' | 'isolate';

export type WorkerLogLevel = 'debug' | 'info' | 'warn' | 'error';

/** The sandbox's host operations that need an answer from the server. */
export type HostOp = 'dial' | 'respond' | 'store.get' | 'store.set' | 'store.delete' | 'store.keys' | 'registrations' | 'answer' | 'play' | 'collect' | 'record' | 'hangup';

export type WorkerOutcome = 'completed' | 'error' | 'timeout' | 'memory';

export interface RunMessage {
  t: 'run';
  id: string;
  tenantId: string;
  /**
   * Names the dialplan version (a hash of its name, version number and source): the worker keeps
   * prepared dialplans and warm contexts by it, so a new version never meets an old one's context.
   */
  versionKey: string;
  /** Left out when the worker should have it: it answers `need-source` if it has not. */
  source?: string;
  /** CallFacts, already validated by the server. */
  call: unknown;
  timeZone: string;
}

export type ToWorker =
  | RunMessage
  /** `reply` is the JSON the sandbox parses: `{ok: true, value}` or `{ok: false, message}`. */
  | { t: 'host-result'; id: string; callId: number; reply: string }
  | { t: 'abort'; id: string }
  | { t: 'probe'; seq: number }
  | { t: 'compile'; reqId: number; source: string };

export type FromWorker =
  | { t: 'ready' }
  /** The run named a source the worker does not have: the dispatcher sends the run again with it. */
  | { t: 'need-source'; id: string }
  /** `argsJson` comes from tenant code: the server validates it before acting. */
  | { t: 'host-call'; id: string; callId: number; op: HostOp; argsJson: string }
  | { t: 'log'; id: string; level: WorkerLogLevel; message: string }
  /**
   * This tenant's code put its isolate beyond control: V8 gave up on it (`abort`) or it ran on in
   * native code after disposal (`cpu`). The worker ends itself right after sending this.
   */
  | { t: 'lost'; tenantId: string; kind: 'abort' | 'cpu'; message: string }
  | {
      t: 'done';
      id: string;
      outcome: WorkerOutcome;
      error?: { message: string; line?: number; column?: number };
      cpuMs: number;
    }
  | {
      t: 'probe-reply';
      seq: number;
      rssBytes: number;
      /** Heap of the live isolates, each bounded by `heapMb`: memory that recycling cannot win back. */
      isolateHeapBytes: number;
      isolates: number;
      executions: number;
      /** Warm contexts alive now (idle or running an execution). */
      warmContexts: number;
      /** Warm contexts discarded since the worker started, by reason. */
      discarded: Record<DiscardReason, number>;
    }
  | { t: 'compiled'; reqId: number; ok: true }
  | { t: 'compiled'; reqId: number; ok: false; message: string; line: number; column: number };
