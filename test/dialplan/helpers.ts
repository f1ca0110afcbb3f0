import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { RunnerOptions } from '../../server/dialplan/options.ts';
import { startDialplanRunner, type PooledDialplanRunner } from '../../server/dialplan/runner.ts';
import type { CallFacts, DialplanHost, DialResult, DialSpec, ExecutionRequest, JsonValue, LogLevel } from '../../server/dialplan/types.ts';

export const baseCall: CallFacts = {
  id: 'call-1',
  channelId: 'chan-1',
  direction: 'in',
  from: { user: '+4930111', host: 'provider.example', uri: 'sip:+4930111@provider.example' },
  to: { user: 'alice', host: 'tenant.example', uri: 'sip:alice@tenant.example' },
  requestUri: 'sip:alice@tenant.example',
  headers: { 'user-agent': 'test' },
  source: { address: '192.0.2.1', port: 5060, transport: 'udp' },
  provider: 'mytrunk',
};

export async function startRunner(options: Partial<RunnerOptions> = {}): Promise<PooledDialplanRunner> {
  return startDialplanRunner({
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
    registry: new Registry(),
    workers: 1,
    ...options,
  });
}

let seq = 0;
export function request(tenantId: string, source: string, overrides: Partial<ExecutionRequest> = {}): ExecutionRequest {
  seq += 1;
  return {
    executionId: `exec-${process.pid}-${seq}`,
    tenantId,
    dialplan: { name: 'default', version: 1, source },
    call: baseCall,
    timeZone: 'Europe/Berlin',
    ...overrides,
  };
}

/** Tenant stores as the server will have them: one namespace per tenant. */
export class TenantStores {
  readonly byTenant = new Map<string, Map<string, JsonValue>>();
  of(tenantId: string): Map<string, JsonValue> {
    let store = this.byTenant.get(tenantId);
    if (!store) this.byTenant.set(tenantId, (store = new Map()));
    return store;
  }
}

export interface FakeHost extends DialplanHost {
  dials: DialSpec[];
  responses: Array<{ status: number; reason?: string }>;
  logged: Array<{ level: LogLevel; message: string }>;
  /** Host operations seen, by name. */
  calls: string[];
}

/** A DialplanHost recording what it was asked; `dialResult` decides every dial. */
export function fakeHost(
  tenantId: string,
  stores = new TenantStores(),
  dialResult: (spec: DialSpec, signal: AbortSignal) => Promise<DialResult> = async () => ({ answered: false, result: 'no-answer' }),
): FakeHost {
  const store = stores.of(tenantId);
  const host: FakeHost = {
    dials: [],
    responses: [],
    logged: [],
    calls: [],
    async dial(spec, signal) {
      host.calls.push('dial');
      host.dials.push(spec);
      return dialResult(spec, signal);
    },
    async respond(status, reason) {
      host.calls.push('respond');
      host.responses.push({ status, ...(reason ? { reason } : {}) });
    },
    log(level, message) {
      host.logged.push({ level, message });
    },
    store: {
      async get(key) {
        host.calls.push('store.get');
        return store.get(key);
      },
      async set(key, value) {
        host.calls.push('store.set');
        store.set(key, value);
      },
      async delete(key) {
        host.calls.push('store.delete');
        return store.delete(key);
      },
      async keys(prefix) {
        host.calls.push('store.keys');
        return [...store.keys()].filter((k) => !prefix || k.startsWith(prefix));
      },
    },
    async registrations(user) {
      host.calls.push('registrations');
      return user === 'alice' ? [{ contact: 'sip:alice@192.0.2.10:5060', userAgent: 'phone', expiresAt: '2030-01-01T00:00:00.000Z' }] : [];
    },
  };
  return host;
}

/** A dial that rings until the test answers it (`release`); `ringing` resolves when it starts, `cancelled` when the switch aborts it. */
export function heldDial(answer: DialResult = { answered: true, result: 'answered', sipStatus: 200 }) {
  let release!: () => void;
  const answered = new Promise<DialResult>((resolve) => (release = () => resolve(answer)));
  let ring!: () => void;
  const ringing = new Promise<void>((resolve) => (ring = resolve));
  let cancel!: () => void;
  const cancelled = new Promise<void>((resolve) => (cancel = resolve));
  const dial = (_spec: DialSpec, signal: AbortSignal) => {
    signal.addEventListener('abort', cancel);
    ring();
    return answered;
  };
  return { dial, ringing, cancelled, release };
}

/** Polls until `check` holds; fails after `timeoutMs`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
