import { randomUUID } from 'node:crypto';
import { checkKvWrite, DEFAULT_KV_LIMITS, entryBytes, type KvLimits, type KvUsage } from '../store/kv.ts';
import { mostTelling, statusOfOutcome } from '../domain/outcomes.ts';
import { AudioError, type CallAudio, type Sound } from './callAudio.ts';
import type {
  Action,
  CallFacts,
  DialOutcome,
  DialplanHost,
  DialplanRunner,
  DialResult,
  DialLeg,
  DialSpec,
  ExecutionError,
  ExecutionOutcome,
  JsonValue,
  LogLine,
  Registration,
} from './types.ts';

export interface SimulationInput {
  tenantId: string;
  source: string;
  /** Facts to test with; whatever is missing gets a plausible inbound call. */
  call?: Partial<CallFacts>;
  /** What each leg does, keyed by its dial-string form (`alice`, `0123@mytrunk`); default no-answer. */
  outcomes?: Record<string, DialOutcome>;
  /** The tenant's store as the script will see it; writes land in this map, within `storeLimits`. */
  store?: Map<string, JsonValue>;
  /** Default: the limits of the tenant's real store. */
  storeLimits?: KvLimits;
  registrations?: Record<string, Registration[]>;
  timeZone?: string;
  /** Why the switch would refuse a leg before placing it (calls abroad off); such legs fail with 403. */
  refusal?: (leg: DialLeg) => string | undefined;
  /** The digits the caller presses, in order, taken by `collect()`; default none. */
  digits?: string;
  /** The tenant's prompts' names; `play` of another name fails as on a call. Default: any name plays. */
  prompts?: string[];
}

export interface SimulationResult {
  outcome: ExecutionOutcome;
  error?: ExecutionError;
  actions: Action[];
  logs: LogLine[];
}

const DEFAULT_CALL: CallFacts = {
  id: 'simulated-call',
  channelId: 'simulated-channel',
  direction: 'in',
  from: { user: '+15550100', host: 'provider.invalid', uri: 'sip:+15550100@provider.invalid' },
  to: { user: 'reception', host: 'tenant.invalid', uri: 'sip:reception@tenant.invalid' },
  requestUri: 'sip:reception@tenant.invalid',
  headers: {},
  source: { address: '192.0.2.1', port: 5060, transport: 'udp' },
};

/**
 * What a real dial would report given each leg's outcome: the first answering leg wins its group;
 * if every group fails, the most telling failure of the last group is reported.
 */
export function simulateDial(spec: DialSpec, outcomes: Record<string, DialOutcome>, refused: (leg: DialLeg) => boolean = () => false): DialResult {
  let last: DialOutcome[] = [];
  for (const group of spec.groups) {
    last = group.map((leg) => (refused(leg) ? 'rejected:403' : (outcomes[leg.target] ?? 'no-answer')));
    const winner = last.indexOf('answered');
    if (winner >= 0) return { answered: true, result: 'answered', sipStatus: 200, target: group[winner]!.target };
  }
  const result = mostTelling(last.map((r) => ({ result: r })))?.result ?? 'unavailable';
  const sipStatus = statusOfOutcome(result);
  return { answered: false, result, ...(sipStatus ? { sipStatus } : {}) };
}

/**
 * The test run's store: the map it was given, with the limits of the real store, so a script
 * writing in a loop gets the error a call would get instead of growing the server's memory.
 */
function simulatedStore(store: Map<string, JsonValue>, limits: KvLimits): DialplanHost['store'] {
  const json = new Map([...store].map(([k, v]) => [k, JSON.stringify(v)]));
  let usage: KvUsage = { keys: json.size, bytes: 0 };
  for (const [k, v] of json) usage.bytes += entryBytes(k, v);
  return {
    get: async (key) => store.get(key),
    set: async (key, value) => {
      const v = JSON.stringify(value);
      usage = checkKvWrite(limits, usage, key, v, json.get(key));
      json.set(key, v);
      store.set(key, value);
    },
    delete: async (key) => {
      const old = json.get(key);
      if (old === undefined) return false;
      usage = { keys: usage.keys - 1, bytes: usage.bytes - entryBytes(key, old) };
      json.delete(key);
      return store.delete(key);
    },
    keys: async (prefix) => [...store.keys()].filter((k) => !prefix || k.startsWith(prefix)).sort(),
  };
}

/**
 * The test run's audio: plays take no time (the result's actions list what the caller would
 * hear), `collect` takes the next of the given digits, `record` stores nothing.
 */
function simulatedAudio(digits: string, prompts: string[] | undefined): CallAudio {
  let pressed = digits;
  const check = (sound: Sound) => {
    if ('prompt' in sound && prompts && !prompts.includes(sound.prompt)) throw new AudioError(`play: there is no prompt named ${sound.prompt}`);
  };
  return {
    answer: async () => {},
    play: async (sound) => check(sound),
    collect: async ({ digits: n, prompt }) => {
      if (prompt) check(prompt);
      const taken = pressed.slice(0, n);
      pressed = pressed.slice(n);
      return taken;
    },
    record: async () => ({ id: 'simulated-recording', durationMs: 0 }),
    hangup: async () => {},
  };
}

/** Runs a dialplan against a described call with made-up dial outcomes; no call is placed. */
export async function simulate(runner: DialplanRunner, input: SimulationInput): Promise<SimulationResult> {
  const outcomes = input.outcomes ?? {};
  const call = input.call ?? {};
  // Refusals go into the test run's log, as they go into a real call's.
  const refusals: LogLine[] = [];
  const started = Date.now();
  const refused = (leg: DialLeg) => {
    const message = input.refusal?.(leg);
    if (message) refusals.push({ at: Date.now() - started, level: 'warn', message });
    return message !== undefined;
  };
  const host: DialplanHost = {
    audio: simulatedAudio(input.digits ?? '', input.prompts),
    dial: async (spec) => simulateDial(spec, outcomes, refused),
    respond: async () => {},
    log: () => {},
    store: simulatedStore(input.store ?? new Map<string, JsonValue>(), input.storeLimits ?? DEFAULT_KV_LIMITS),
    registrations: async (user) => input.registrations?.[user] ?? [],
  };
  const result = await runner.run(
    {
      executionId: `simulation-${randomUUID()}`,
      tenantId: input.tenantId,
      dialplan: { name: 'simulation', version: 0, source: input.source },
      call: {
        ...DEFAULT_CALL,
        ...call,
        from: { ...DEFAULT_CALL.from, ...call.from },
        to: { ...DEFAULT_CALL.to, ...call.to },
        source: { ...DEFAULT_CALL.source, ...call.source },
      },
      timeZone: input.timeZone ?? 'UTC',
    },
    host,
  );
  const logs = [...result.logs, ...refusals].sort((a, b) => a.at - b.at);
  return { outcome: result.outcome, ...(result.error ? { error: result.error } : {}), actions: result.actions, logs };
}
