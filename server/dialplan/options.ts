import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

/** The limits a deployment sets (DIALPLAN_* settings); the rest are fixed defaults. */
export type ConfiguredDialplanLimit = 'cpuMsPerSlice' | 'firstDialMs' | 'absoluteMs' | 'heapMb' | 'legsPerExecution' | 'tenantConcurrency' | 'workerConcurrency' | 'warmExecutions';

export interface DialplanLimits {
  /** CPU an isolate may use without yielding to the host (one "slice"). */
  cpuMsPerSlice: number;
  /** Wall time from acceptance to the first dial. */
  firstDialMs: number;
  /** Wall time from acceptance to the end, whatever the script does. */
  absoluteMs: number;
  heapMb: number;
  legsPerExecution: number;
  tenantConcurrency: number;
  workerConcurrency: number;
  /** Accepted executions waiting for a worker slot; beyond this, calls are rejected. */
  queueLimit: number;
  hostOpTimeoutMs: number;
  maxSourceBytes: number;
  maxLogLines: number;
  maxLogChars: number;
  /** How long a worker may take to confirm an abort before it is killed. */
  abortGraceMs: number;
  /** Executions a warm context of a dialplan version serves before it is discarded (1: a fresh context for each). */
  warmExecutions: number;
  /** A warm context unused for this long is discarded. */
  warmIdleMs: number;
  /** While a tenant isolate's heap is above this share of `heapMb`, its warm contexts are discarded instead of reused. */
  warmHeapShare: number;
}

export interface RecyclePolicy {
  /** RSS beyond the live isolates' heaps (which are bounded by `heapMb` each) that recycles a worker. */
  rssBytes: number;
  /** Isolate disposals (CPU or memory) in `failureWindowMs` that make a worker suspect. */
  failures: number;
  failureWindowMs: number;
  probeIntervalMs: number;
  /** No probe answer for this long: the worker is killed and replaced. */
  probeTimeoutMs: number;
  startTimeoutMs: number;
}

export interface QuarantinePolicy {
  /** Blame (worker deaths, shared among suspects) that quarantines a tenant. */
  crashes: number;
  windowMs: number;
  durationMs: number;
}

export interface RunnerOptions {
  logger: Logger;
  registry: Registry;
  workers?: number;
  limits?: Partial<DialplanLimits>;
  recycle?: Partial<RecyclePolicy>;
  quarantine?: Partial<QuarantinePolicy>;
}

export const DEFAULT_LIMITS: DialplanLimits = {
  cpuMsPerSlice: 50,
  firstDialMs: 10_000,
  absoluteMs: 300_000,
  heapMb: 32,
  legsPerExecution: 20,
  tenantConcurrency: 5,
  workerConcurrency: 32,
  queueLimit: 1000,
  hostOpTimeoutMs: 5000,
  maxSourceBytes: 256 * 1024,
  maxLogLines: 200,
  maxLogChars: 1000,
  abortGraceMs: 2000,
  warmExecutions: 1000,
  warmIdleMs: 30_000,
  warmHeapShare: 0.5,
};

export const DEFAULT_RECYCLE: RecyclePolicy = {
  rssBytes: 150 * 1024 * 1024,
  failures: 10,
  failureWindowMs: 60_000,
  probeIntervalMs: 1000,
  probeTimeoutMs: 5000,
  startTimeoutMs: 15_000,
};

export const DEFAULT_QUARANTINE: QuarantinePolicy = {
  crashes: 3,
  windowMs: 10 * 60_000,
  durationMs: 15 * 60_000,
};
