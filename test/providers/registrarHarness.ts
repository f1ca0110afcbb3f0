/**
 * What the provider registration tests share: the switch settings that make the agent's timing
 * testable, sipp playing a provider's registrar, reading a provider's status from the API with a
 * bound, and the REGISTERs a registrar received.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { ApiClient, UncheckedJson } from '../helpers/api.ts';
import type { SipTimers } from '../../server/sip/clientTransactions.ts';
import { udpPortBound } from '../../bench/lib/proc.ts';
import { flowOf, headerOf, parseMessageLog, scenario, sleep, startSipp, type SippMessage, type SippPeer } from '../calls/harness.ts';

const CREDENTIALS_KEY = 'd3c1a2b4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00';

/** Back-off of 1-2 s instead of 30 s-30 min, and a key of the test's own. */
export const PROVIDER_ENV = { PROVIDER_RETRY_MIN_SECONDS: '1', PROVIDER_RETRY_MAX_SECONDS: '2', CREDENTIALS_KEY };

/** T1 = 100 ms: a REGISTER nobody answers ends in 408 after 6.4 s (64 * T1) instead of 32 s. */
export const FAST_SIP_TIMERS: SipTimers = { t1: 100, t2: 400, t4: 500 };

export const REALM = 'provider.test';

/** A password of the test's own, so a leak of exactly it can be searched for. */
export const newSecret = () => `Pw-${randomBytes(9).toString('base64url')}`;

export interface RegistrarOptions {
  dir: string;
  /** The account the registrar accepts. */
  user: string;
  password: string;
  /** Which provider_registrar*.xml; default the plain digest registrar. */
  file?: string;
  /** Reuse a port (a provider that comes back); default a free one. */
  port?: number;
  /** What the registrar grants in the Contact's expires parameter (s). */
  expires?: number;
  keys?: Record<string, string>;
  /** Call-IDs it serves (sipp's -m): one per registration loop, OPTIONS ping or test REGISTER; default 1. */
  calls?: number;
}

export interface Registrar extends SippPeer {
  /** What sipp has traced so far, retransmissions left out: readable while it runs. */
  trace(): SippMessage[];
}

/**
 * sipp as a provider's registrar, cycling through REGISTERs until killed (or 60 s pass). It serves
 * one registration loop of the agent (one Call-ID: sipp runs with -m 1); an agent loop that starts
 * over (after a change to the provider) needs a new registrar on the same port.
 */
export async function startRegistrar(o: RegistrarOptions): Promise<Registrar> {
  // A directory of its own, so its message trace is the one *.msg.log file there.
  const dir = mkdtempSync(path.join(o.dir, 'registrar-'));
  const peer = await startSipp({
    dir,
    name: (o.file ?? 'provider_registrar.xml').replace(/\.xml$/, ''),
    scenario: scenario(o.file ?? 'provider_registrar.xml'),
    ...(o.port ? { port: o.port } : {}),
    keys: { user: o.user, password: o.password, expires: String(o.expires ?? 4), realm: REALM, ...o.keys },
    timeoutS: 60,
    ...(o.calls ? { calls: o.calls } : {}),
  });
  // sipp refuses a scenario it cannot load by exiting before it binds its port.
  if (!udpPortBound(peer.port)) {
    const exited = await peer.done;
    throw new Error(`sipp registrar exited at start (${exited.code}): ${exited.output.slice(-1000)}`);
  }
  const trace = () => {
    const file = readdirSync(dir).find((f) => f.endsWith('.msg.log'));
    return file ? withoutRetransmissions(parseMessageLog(readFileSync(path.join(dir, file), 'latin1'))) : [];
  };
  return { ...peer, trace };
}

/** A request or answer seen again (same direction, Call-ID, CSeq and kind) is a retransmission. */
function withoutRetransmissions(messages: SippMessage[]): SippMessage[] {
  const seen = new Set<string>();
  return messages.filter((m) => {
    const key = [m.dir, m.kind, headerOf(m, 'Call-ID'), headerOf(m, 'CSeq')].join('|');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** A provider as GET /providers lists it (the status is part of the list). */
export async function listedProvider(api: ApiClient, id: string): Promise<UncheckedJson> {
  const r = await api.get('/providers');
  if (r.status !== 200) throw new Error(`GET /providers: ${r.status} ${JSON.stringify(r.body)}`);
  return (r.body.items as Array<{ id: string }>).find((p) => p.id === id);
}

/** Polls GET /providers until `done(provider)` holds; fails after `ms` showing the last view. */
export async function waitForProvider(api: ApiClient, id: string, what: string, ms: number, done: (p: UncheckedJson) => boolean): Promise<UncheckedJson> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    last = await listedProvider(api, id);
    if (last && done(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}; provider now: ${JSON.stringify(last, null, 1)}`);
    await sleep(100);
  }
}

export const inState = (state: string) => (p: { status: { state: string } }) => p.status.state === state;

/** The REGISTERs a registrar received, in order. */
export const registersIn = (messages: SippMessage[]) => messages.filter((m) => m.dir === 'received' && m.kind === 'REGISTER');

/** The responses a registrar sent, as status codes in order. */
export const answersIn = (messages: SippMessage[]) => messages.filter((m) => m.dir === 'sent').map((m) => m.kind);

export const header = (m: SippMessage, name: string) => headerOf(m, name) ?? '';
export const cseqOf = (m: SippMessage) => Number(/^(\d+)/.exec(header(m, 'CSeq'))?.[1]);

/** Polls a registrar's trace until `done(messages)` holds; fails after `ms` showing what it saw. */
export async function waitForTrace(reg: Registrar, what: string, ms: number, done: (messages: SippMessage[]) => boolean): Promise<SippMessage[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const messages = reg.trace();
    if (done(messages)) return messages;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}; the registrar saw: ${flowOf(messages).join(' ')}`);
    await sleep(100);
  }
}
