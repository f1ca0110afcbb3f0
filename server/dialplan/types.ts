import type { NonDialAction } from '../../contract/dialplanActions.ts';
import type { CallAudio } from './callAudio.ts';
import type { DialSpec } from './dialString.ts';

export type { DialSpec, DialLeg, LegOptions } from './dialString.ts';

/** Read-only facts about the call a dialplan decides on; the sandbox sees a frozen copy. */
export interface CallFacts {
  id: string;
  channelId: string;
  direction: 'in' | 'out' | 'local';
  from: { user: string; host: string; display?: string; uri: string };
  to: { user: string; host: string; uri: string };
  requestUri: string;
  /** Only the headers the switch chose to expose, lower-cased names. */
  headers: Record<string, string>;
  source: { address: string; port: number; transport: string };
  /** The authenticated SIP account that placed the call, if any. */
  account?: string;
  /** The provider (trunk) the call arrived from, if any. */
  provider?: string;
  /** This execution routes a transfer (REFER) of an answered call: its channels, by id. */
  transfer?: { transferer: string; transferee: string };
}

export interface ExecutionRequest {
  executionId: string;
  tenantId: string;
  dialplan: { name: string; version: number; source: string };
  call: CallFacts;
  /** IANA zone used by `now()` inside the sandbox. */
  timeZone: string;
}

export type { DialOutcome } from '../domain/outcomes.ts';
import type { DialOutcome } from '../domain/outcomes.ts';

export interface DialResult {
  answered: boolean;
  result: DialOutcome;
  sipStatus?: number;
  /** The leg that answered, in dial-string form. */
  target?: string;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface Registration {
  contact: string;
  userAgent?: string;
  /** ISO 8601. */
  expiresAt: string;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * What the switch does on a script's behalf, implemented by the call-handling code per execution.
 * Every argument has been validated before it gets here; every promise is raced against a timeout
 * by the runner, so an implementation that never settles only costs the script an error.
 */
export interface DialplanHost {
  /** `signal` aborts when the execution ends or the operation times out: stop ringing then. */
  dial(spec: DialSpec, signal: AbortSignal): Promise<DialResult>;
  respond(status: number, reason?: string): Promise<void>;
  log(level: LogLevel, message: string): void;
  /** Per-tenant key/value store; the host scopes it to the tenant. */
  store: {
    get(key: string): Promise<JsonValue | undefined>;
    set(key: string, value: JsonValue): Promise<void>;
    delete(key: string): Promise<boolean>;
    keys(prefix?: string): Promise<string[]>;
  };
  registrations(user: string): Promise<Registration[]>;
  /** The audio verbs; absent where the call has no media path (direct media): they refuse then. */
  audio?: CallAudio;
}

export type Action = { type: 'dial'; at: number; spec: DialSpec; result: DialResult } | NonDialAction;

export interface LogLine {
  /** Milliseconds since the execution started. */
  at: number;
  level: LogLevel;
  message: string;
}

/** The error of the executions a stopping engine ends (`crashed`): the node is going down, not the script. */
export const ENGINE_STOPPED = 'the dialplan engine stopped';

export type ExecutionOutcome = 'completed' | 'responded' | 'error' | 'timeout' | 'memory' | 'crashed' | 'rejected';

export interface ExecutionError {
  message: string;
  line?: number;
  column?: number;
}

/**
 * Why an execution was refused before it ran: the tenant's dialplans are suspended (quarantine),
 * the tenant has as many running as it may, the engine's queue is full, or the engine is stopping.
 */
export type RefusalKind = 'suspended' | 'tenant_limit' | 'overload' | 'unavailable';

export interface ExecutionResult {
  outcome: ExecutionOutcome;
  /** Set when `outcome` is `rejected`. */
  refusal?: RefusalKind;
  error?: ExecutionError;
  actions: Action[];
  logs: LogLine[];
  /** CPU time of the tenant's isolate while this execution ran (shared with its concurrent executions). */
  cpuMs: number;
  wallMs: number;
}

export type CompileResult = { ok: true } | { ok: false; message: string; line: number; column: number };

export interface QuarantineInfo {
  until: Date;
  reason: string;
}

export interface WorkerStats {
  id: number;
  pid: number | undefined;
  state: 'starting' | 'active' | 'draining';
  inFlight: number;
  completed: number;
  rssBytes: number | undefined;
  /** Heap of its live isolates at its last probe: the part of its RSS that recycling does not hold against it. */
  isolateHeapBytes: number | undefined;
  /** Warm contexts in the worker at its last probe. */
  warmContexts: number | undefined;
}

export interface RunnerStats {
  workers: WorkerStats[];
  queued: number;
  running: number;
  quarantined: Array<{ tenantId: string } & QuarantineInfo>;
}

export interface DialplanRunner {
  run(request: ExecutionRequest, host: DialplanHost): Promise<ExecutionResult>;
  /** Syntax check for saving a dialplan; parses in a worker's isolate, never in the server. */
  compile(source: string): Promise<CompileResult>;
  quarantined(tenantId: string): QuarantineInfo | null;
  stats(): RunnerStats;
  stop(): Promise<void>;
}
