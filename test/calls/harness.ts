/**
 * What the call-flow tests share: running sipp peers (bounded in time, killed by PID, each with its
 * own message trace), registering a sipp UAS from its own port, recording a tenant's call events
 * off the in-process bus, checking their order, and reading the call's record back from the API.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CdrView } from '../../contract/cdrs.ts';
import type { CallEvent } from '../../server/calls/events.ts';
import { createSipAccount, signUp, type ApiClient } from '../helpers/api.ts';
import { silence } from '../helpers/time.ts';
import { after, before } from 'node:test';
import { startTestSwitch, type TestSwitch, type TestSwitchOptions } from '../helpers/switch.ts';
import { exitOf, freeUdpTcpPort, lastSippStats, startTool, type Finished } from '../interop/tools.ts';
import { udpPortBound } from '../../bench/lib/proc.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/sipp/', import.meta.url));
export const scenario = (name: string) => path.join(FIXTURES, name);

export interface Account {
  id: string;
  username: string;
  password: string;
}

export interface SippMessage {
  dir: 'sent' | 'received';
  text: string;
  /** `INVITE`, `ACK`, … for requests; `200`, `487`, … for responses. */
  kind: string;
}

export interface SippResult extends Finished {
  stats: Record<string, string>;
  errors: string;
  messages: SippMessage[];
}

export interface SippPeer {
  port: number;
  pid: number;
  done: Promise<SippResult>;
  /** Kills this sipp (by its PID) if it is still running. */
  kill(): void;
}

/** sipp's `-trace_msg` file, split into messages. */
export function parseMessageLog(text: string): SippMessage[] {
  const out: SippMessage[] = [];
  const parts = text.split(/^-{10,}.*$/m);
  for (const part of parts) {
    const m = /^\s*(?:UDP|TCP) message (sent|received)[^\n]*\n([\s\S]*)$/.exec(part.replace(/^\s*\n/, ''));
    if (!m) continue;
    const body = m[2]!.replace(/^\s+/, '');
    const first = body.split(/\r?\n/, 1)[0] ?? '';
    const status = /^SIP\/2\.0 (\d{3})/.exec(first);
    const kind = status ? status[1]! : (first.split(' ')[0] ?? '');
    if (!kind) continue;
    out.push({ dir: m[1] as 'sent' | 'received', text: body, kind });
  }
  return out;
}

/** The value of a header (first occurrence) in a traced message. */
export function headerOf(msg: SippMessage, name: string): string | undefined {
  const re = new RegExp(`^${name}\\s*:\\s*(.*)$`, 'im');
  return re.exec(msg.text.split(/\r?\n\r?\n/, 1)[0] ?? '')?.[1]?.trim();
}

export function bodyOf(msg: SippMessage): string {
  const i = msg.text.search(/\r?\n\r?\n/);
  return i < 0 ? '' : msg.text.slice(i).trim();
}

/** What a peer saw and sent, as `>INVITE`, `<200`, … (`<` received, `>` sent). */
export function flowOf(messages: SippMessage[]): string[] {
  return messages.map((m) => `${m.dir === 'sent' ? '>' : '<'}${m.kind}`);
}

export interface SippOptions {
  /** Directory for traces and injection files. */
  dir: string;
  /** A label for the trace files. */
  name: string;
  scenario: string;
  /** The switch (`127.0.0.1:port`) for a UAC; none for a UAS. */
  remote?: string;
  /** Local SIP port; a fresh free one if not given. */
  port?: number;
  /** `-s`: the user part of the Request-URI of a UAC's INVITE. */
  service?: string;
  /** `-inf` rows (first line SEQUENTIAL is added). */
  inf?: string[];
  /** `-key name value` pairs, used by scenarios as `[name]`. */
  keys?: Record<string, string>;
  /** `-d`: the length of `<pause/>` in ms. */
  pauseMs?: number;
  /** sipp's own global timeout; the process is killed a few seconds later regardless. */
  timeoutS?: number;
  /** `-m`: how many calls (Call-IDs) it plays; default 1. */
  calls?: number;
}

let seq = 0;

/** Starts one sipp for one call (`-m 1`, or `calls`). Resolves once its SIP socket is bound. */
export async function startSipp(o: SippOptions): Promise<SippPeer> {
  const port = o.port ?? (await freeUdpTcpPort());
  const tag = `${o.name}-${++seq}`;
  const messageFile = path.join(o.dir, `${tag}.msg.log`);
  const errorFile = path.join(o.dir, `${tag}.err.log`);
  const statFile = path.join(o.dir, `${tag}.stat.csv`);
  const timeoutS = o.timeoutS ?? 15;
  const args = [
    ...(o.remote ? [o.remote] : []),
    '-sf',
    o.scenario,
    '-i',
    '127.0.0.1',
    '-p',
    String(port),
    '-t',
    'u1',
    '-m',
    String(o.calls ?? 1),
    '-nostdin',
    '-timeout',
    `${timeoutS}s`,
    '-timeout_error',
    '-trace_msg',
    '-message_file',
    messageFile,
    '-trace_err',
    '-error_file',
    errorFile,
    '-trace_stat',
    '-stf',
    statFile,
    '-fd',
    '1',
    '-d',
    String(o.pauseMs ?? 500),
  ];
  if (o.service) args.push('-s', o.service);
  for (const [k, v] of Object.entries({ party: 'sipp', caller: 'stranger', ...o.keys })) args.push('-key', k, v);
  if (o.inf) {
    const csv = path.join(o.dir, `${tag}.inf.csv`);
    writeFileSync(csv, ['SEQUENTIAL', ...o.inf].join('\n') + '\n');
    args.push('-inf', csv);
  }
  const tool = startTool('sipp', args, o.dir);
  const pid = tool.child.pid!;
  const done = exitOf(tool.child, (timeoutS + 5) * 1000, tool.output).then((f) => ({
    ...f,
    stats: existsSync(statFile) ? lastSippStats(statFile) : {},
    errors: existsSync(errorFile) ? readFileSync(errorFile, 'latin1') : '',
    messages: existsSync(messageFile) ? parseMessageLog(readFileSync(messageFile, 'latin1')) : [],
  }));
  const kill = () => {
    if (tool.child.exitCode === null && tool.child.signalCode === null) process.kill(pid, 'SIGKILL');
  };
  // A UAS must be listening before the switch rings it: wait until the port is taken.
  const deadline = Date.now() + 5000;
  while (!udpPortBound(port)) {
    if (tool.child.exitCode !== null) break;
    if (Date.now() > deadline) {
      kill();
      throw new Error(`sipp ${tag} did not bind 127.0.0.1:${port}:\n${tool.output().slice(-2000)}`);
    }
    await sleep(50);
  }
  return { port, pid, done, kill };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An explanation of a sipp run for an assertion message. */
export function describeRun(name: string, r: SippResult): string {
  return `${name}: exit ${r.code}/${r.signal}; flow ${flowOf(r.messages).join(' ')}\n${r.errors.slice(-1500)}\n${r.output.slice(-800)}`;
}

const sippSucceeded = (r: SippResult) => r.code === 0 && r.stats['SuccessfulCall(C)'] === '1' && r.stats['FailedCall(C)'] === '0';

/**
 * Asserts each sipp run, by name, completed its one call successfully. When one did not, the
 * message shows every peer's flow: which side stopped first is what tells a failure's cause.
 */
export function assertSippOk(runs: Record<string, SippResult>): void {
  if (Object.values(runs).every(sippSucceeded)) return;
  const failed = Object.keys(runs).filter((name) => !sippSucceeded(runs[name]!));
  assert.fail(
    `failed: ${failed.join(', ')}\n${Object.entries(runs)
      .map(([name, r]) => describeRun(name, r))
      .join('\n---\n')}`,
  );
}

/** The `[authentication …]` injection row for an account (sipp 3.6 cannot nest fields in it). */
export const authRow = (a: Account) => `${a.username};${a.password};[authentication username=${a.username} password=${a.password}]`;

/**
 * Registers `account` from `port` with sipp itself, so the binding's source address (where the
 * switch sends INVITEs, NAT-style) is the UAS that will later listen there.
 */
export async function registerFrom(dir: string, sipPort: number, account: Account, port: number): Promise<void> {
  const reg = await startSipp({
    dir,
    name: `reg-${account.username}`,
    scenario: scenario('register.xml'),
    remote: `127.0.0.1:${sipPort}`,
    port,
    inf: [authRow(account)],
    timeoutS: 8,
  });
  const r = await reg.done;
  assertSippOk({ [`REGISTER ${account.username}`]: r });
}

/** A callee that can be rung as `account`: sipp registers from a fresh port, then plays `file` there. */
export async function registeredUas(
  sw: TestSwitch,
  dir: string,
  account: Account,
  file: string,
  keys: Record<string, string>,
  pauseMs = 500,
  timeoutS?: number,
): Promise<SippPeer> {
  const port = await freeUdpTcpPort();
  await registerFrom(dir, sw.sipPort, account, port);
  return startSipp({ dir, name: `uas-${keys.party ?? account.username}`, scenario: scenario(file), port, keys, pauseMs, ...(timeoutS ? { timeoutS } : {}) });
}

/** A tenant of its own for one test: its API session, id and accounts. */
export interface Tenant {
  api: ApiClient;
  id: string;
  account(extra?: Record<string, unknown>): Promise<Account>;
  /** Saves a dialplan (a new version if it exists). */
  dialplan(name: string, source: string): Promise<void>;
}

export async function newTenant(sw: TestSwitch): Promise<Tenant> {
  const api = await signUp(sw.httpUrl);
  const id = (await api.get('/me')).body.tenant.id as string;
  return {
    api,
    id,
    account: (extra = {}) => createSipAccount(api, extra),
    async dialplan(name, source) {
      const r = await api.request('PUT', `/dialplans/${name}`, { source });
      assert.ok(r.status === 200 || r.status === 201, `PUT /dialplans/${name}: ${r.status} ${JSON.stringify(r.body)}`);
    },
  };
}

/**
 * Calls to `account` ring its phones and either party may transfer them (REFER): its receiving
 * dialplan dials it with `transfer: true`. Without it, a stranger's REFER is refused.
 */
export async function transferable(t: Tenant, account: Account): Promise<void> {
  const name = `ring-${account.username}`;
  await t.dialplan(name, dialplanSource(`  await dial(${JSON.stringify(account.username)}, { timeout: 30, transfer: true });`));
  const r = await t.api.patch(`/sip-accounts/${account.id}`, { dialplanIn: name });
  assert.equal(r.status, 200, `dialplanIn of ${account.username}: ${JSON.stringify(r.body)}`);
}

/** A dialplan body as an ES module (the switch's dialplan format). */
export const dialplanSource = (body: string) => `export default async function (call) {\n${body}\n}\n`;

/** Records one tenant's call events off the switch's bus, in order. */
export class EventLog {
  readonly events: CallEvent[] = [];
  private readonly waiters: Array<() => void> = [];
  readonly stop: () => void;

  constructor(
    sw: TestSwitch,
    readonly tenantId: string,
  ) {
    this.stop = sw.running.bus.subscribe((e) => {
      if (e.tenantId !== tenantId) return;
      this.events.push(e);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** Resolves shortly after the call's `call.ended`, or rejects after `ms` with what was seen. */
  async ended(ms = 15_000): Promise<CallEvent[]> {
    const deadline = Date.now() + ms;
    while (!this.events.some((e) => e.type === 'call.ended')) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no call.ended within ${ms} ms; events:\n${this.summary().join('\n')}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    // Anything the switch still emits for this call after call.ended is a fault that
    // assertWellFormed reports (a consumer has already finalised the call): give it time to show.
    await silence(300);
    return this.events;
  }

  /** Readable labels: `channel.state A ringing`, `channel.hungup B busy callee 486`, … */
  summary(): string[] {
    const names = this.names();
    return this.events.map((e) => label(e, names));
  }

  /** Short names for channels: A for the first inbound one, then B, C, … in order of creation. */
  names(): Map<string, string> {
    const names = new Map<string, string>();
    for (const e of this.events) {
      if (e.type === 'channel.created' && !names.has(e.channel.id)) names.set(e.channel.id, String.fromCharCode(65 + names.size));
    }
    return names;
  }

  idOf(name: string): string {
    for (const [id, n] of this.names()) if (n === name) return id;
    throw new Error(`no channel ${name}; events:\n${this.summary().join('\n')}`);
  }

  /** Each channel's own life as labels: `created`, `ringing`, `up`, `hungup <cause> <by> [status]`. */
  lifeOf(name: string): string[] {
    const id = this.idOf(name);
    const out: string[] = [];
    for (const e of this.events) {
      if (e.type === 'channel.created' && e.channel.id === id) out.push('created');
      else if (e.type === 'channel.state' && e.channel.id === id) out.push(e.channel.state);
      else if (e.type === 'channel.hungup' && e.channel.id === id) out.push(`hungup ${e.cause} ${e.by}${e.sipStatus ? ` ${e.sipStatus}` : ''}`);
    }
    return out;
  }

  /**
   * What must hold for any call: `calls` call ids in all (one unless a test places more); in each
   * call every channel created once, before any other event of it, hung up exactly once and last;
   * bridges created before they are entered and destroyed after everything left;
   * dialplan.started before dialplan.ended; call.ended once, last.
   */
  assertWellFormed(calls = 1): void {
    const summary = () => this.summary().join('\n');
    assert.ok(this.events.length > 0, 'no events');
    for (let i = 1; i < this.events.length; i++) assert.ok(this.events[i]!.seq > this.events[i - 1]!.seq, 'events in seq order');
    const callIds = [...new Set(this.events.map((e) => e.callId))];
    assert.equal(callIds.length, calls, `${calls} call(s) expected, got ${callIds.length}:\n${summary()}`);
    for (const callId of callIds)
      this.assertCallWellFormed(
        this.events.filter((e) => e.callId === callId),
        summary,
      );
  }

  private assertCallWellFormed(ev: CallEvent[], summary: () => string): void {
    const ended = ev.filter((e) => e.type === 'call.ended');
    assert.equal(ended.length, 1, `call.ended once:\n${summary()}`);
    assert.equal(ev.at(-1)!.type, 'call.ended', `call.ended last:\n${summary()}`);

    const created = new Set<string>();
    const hungup = new Set<string>();
    const bridges = new Map<string, 'created' | 'destroyed'>();
    for (const e of ev) {
      if (e.type === 'channel.created' || e.type === 'channel.state' || e.type === 'channel.hungup') {
        const id = e.channel.id;
        assert.equal(e.channel.callId, e.callId, 'channel snapshot carries its call id');
        if (e.type === 'channel.created') {
          assert.ok(!created.has(id), `channel ${id} created twice:\n${summary()}`);
          created.add(id);
        } else assert.ok(created.has(id), `${e.type} of ${id} before channel.created:\n${summary()}`);
        assert.ok(!hungup.has(id), `${e.type} of ${id} after its channel.hungup:\n${summary()}`);
        if (e.type === 'channel.hungup') {
          hungup.add(id);
          assert.equal(e.channel.state, 'hungup');
        }
      } else if (e.type.startsWith('bridge.')) {
        const b = (e as Extract<CallEvent, { type: 'bridge.created' }>).bridge;
        if (e.type === 'bridge.created') {
          assert.ok(!bridges.has(b.id), `bridge ${b.id} created twice`);
          bridges.set(b.id, 'created');
        } else {
          assert.equal(bridges.get(b.id), 'created', `${e.type} of bridge ${b.id} that is not open:\n${summary()}`);
          if (e.type === 'bridge.destroyed') {
            assert.deepEqual(b.channelIds, [], 'a destroyed bridge is empty');
            bridges.set(b.id, 'destroyed');
          }
          if (e.type === 'bridge.entered' || e.type === 'bridge.left') {
            assert.ok(created.has(e.channelId), `${e.type} of an unknown channel`);
          }
        }
      }
    }
    assert.deepEqual(
      [...created].filter((id) => !hungup.has(id)),
      [],
      `every channel hung up:\n${summary()}`,
    );
    assert.deepEqual(
      [...bridges].filter(([, s]) => s !== 'destroyed'),
      [],
      `every bridge destroyed:\n${summary()}`,
    );
    const started = ev.findIndex((e) => e.type === 'dialplan.started');
    const endedDp = ev.findIndex((e) => e.type === 'dialplan.ended');
    if (endedDp >= 0) assert.ok(started >= 0 && started < endedDp, 'dialplan.started before dialplan.ended');
  }

  /** Asserts `expected` labels occur in this order (not necessarily adjacent). */
  assertInOrder(expected: string[]): void {
    const actual = this.summary();
    let i = 0;
    for (const want of expected) {
      while (i < actual.length && actual[i] !== want) i++;
      assert.ok(i < actual.length, `event "${want}" missing or out of order; expected in order:\n  ${expected.join('\n  ')}\nactual:\n  ${actual.join('\n  ')}`);
      i++;
    }
  }

  ofType<T extends CallEvent['type']>(type: T): Array<Extract<CallEvent, { type: T }>> {
    return this.events.filter((e): e is Extract<CallEvent, { type: T }> => e.type === type);
  }
}

function label(e: CallEvent, names: Map<string, string>): string {
  const n = (id: string) => names.get(id) ?? id;
  switch (e.type) {
    case 'channel.created':
      return `channel.created ${n(e.channel.id)}`;
    case 'channel.state':
      return `channel.state ${n(e.channel.id)} ${e.channel.state}`;
    case 'channel.hungup':
      return `channel.hungup ${n(e.channel.id)} ${e.cause} ${e.by}${e.sipStatus ? ` ${e.sipStatus}` : ''}`;
    case 'bridge.created':
    case 'bridge.destroyed':
      return e.type;
    case 'bridge.entered':
    case 'bridge.left':
      return `${e.type} ${n(e.channelId)}`;
    case 'dialplan.started':
      return `dialplan.started ${e.dialplan.name}`;
    case 'dialplan.ended':
      return `dialplan.ended ${e.outcome}`;
    case 'dialplan.log':
      return `dialplan.log ${e.message}`;
    case 'transfer.blind':
    case 'transfer.attended':
      return `${e.type} ${e.result}`;
    default:
      return e.type;
  }
}

/**
 * The call's record as `GET /cdrs` lists it and `GET /cdrs/:id` details it. Also checks that the
 * ended call is gone from the live view (`GET /calls`), which is built from the same events.
 */
export async function recordOf(sw: TestSwitch, t: Tenant, callId: string): Promise<CdrView> {
  const live = await t.api.get('/calls');
  assert.equal(live.status, 200);
  assert.deepEqual(live.body.items, [], `no call left in GET /calls after call.ended: ${JSON.stringify(live.body.items)}`);
  await sw.running.cdrWriter.flush();
  const list = await t.api.get('/cdrs?limit=50');
  assert.equal(list.status, 200);
  const item = (list.body.items as Array<{ id: string; callId: string }>).find((i) => i.callId === callId);
  assert.ok(item, `record of call ${callId} listed in GET /cdrs: ${JSON.stringify(list.body.items)}`);
  const detail = await t.api.get(`/cdrs/${item.id}`);
  assert.equal(detail.status, 200);
  return detail.body;
}

/** Plausible durations: within [min, max] ms. */
export function assertBetween(what: string, v: number | null | undefined, min: number, max: number): void {
  assert.ok(typeof v === 'number' && v >= min && v <= max, `${what} = ${v}, expected ${min}..${max}`);
}

/** A scratch directory for traces; kept on failure when KEEP_TRACES is set. */
export function scratch(): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'sipswitch-calls-'));
  return { dir, remove: () => (process.env.KEEP_TRACES ? undefined : rmSync(dir, { recursive: true, force: true })) };
}

/**
 * The scaffolding every call-flow suite shares: one switch for the suite, a scratch directory,
 * and every sipp peer and event log a test starts, all stopped when the suite ends. Call it inside
 * describe(), where it registers its before/after hooks.
 */
export function callSuite(options: TestSwitchOptions = {}) {
  let sw: TestSwitch | undefined;
  const tmp = scratch();
  const peers: SippPeer[] = [];
  const logs: EventLog[] = [];
  before(async () => {
    sw = await startTestSwitch('sqlite', options);
  });
  after(async () => {
    for (const p of peers) p.kill();
    for (const l of logs) l.stop();
    await sw?.close();
    tmp.remove();
  });
  const suite = {
    get sw(): TestSwitch {
      if (!sw) throw new Error('the suite switch has not started');
      return sw;
    },
    dir: tmp.dir,
    remote: () => `127.0.0.1:${suite.sw.sipPort}`,
    /** Stopped with the suite. */
    track(peer: SippPeer): SippPeer {
      peers.push(peer);
      return peer;
    },
    /** A registered callee: sipp registers `account` from a fresh port, then plays `file` there. */
    uas: async (account: Account, file: string, keys: Record<string, string>, pauseMs = 500) => suite.track(await registeredUas(suite.sw, tmp.dir, account, file, keys, pauseMs)),
    /** A sipp caller (not one of the tenant's accounts) calling `service`. */
    caller: async (file: string, service: string, party: string, pauseMs = 500) =>
      suite.track(await startSipp({ dir: tmp.dir, name: 'caller', scenario: scenario(file), remote: suite.remote(), service, keys: { party }, pauseMs })),
    /** A fresh tenant with its call events recorded. */
    tenantWithLog: async () => {
      const t = await newTenant(suite.sw);
      const log = new EventLog(suite.sw, t.id);
      logs.push(log);
      return { t, log };
    },
  };
  return suite;
}
