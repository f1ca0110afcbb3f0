/**
 * The media bench (issue 16): how many relayed calls at once, each sending 50 RTP packets/s each
 * way (G.711, 20 ms, 172-byte datagrams), with under 0.1 % loss, and the relay's CPU per call,
 * for each engine side by side; rtpengine's figures are the anchor.
 *
 * A ladder of concurrent calls: each step adds calls (offer + answer through the engine, SDPs that
 * name 127.0.0.99, so every leg is latched from its packets), sends for WARMUP_S, then counts for
 * STEP_S: packets sent and received end to end, the relay's CPU (the rtpengine daemon, or the
 * embedded relay in a process of its own) from /proc, the generator's CPU, and kernel UDP drops on
 * the relay's sockets and elsewhere (the generator's, or other programs on the machine).
 * A step with 0.1 % loss or more ends the ladder; so does a generator more than 5 s behind
 * its schedule (then the figure is the generator's limit, and the table says so). Every packet of
 * a step's window is sent, late or not, and counted by the window it belongs to. Bounded: STEP_BUDGET_S per
 * engine, at most the last step of CALL_STEPS.
 *
 *   tsx bench/media.ts     (also part of `npm run bench`)
 *
 * Knobs: CALL_STEPS, STEP_S [6], WARMUP_S [1], ENGINES [embedded rtpengine], STEP_BUDGET_S [150],
 * GENERATORS [2] (load processes).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { AnswerRequest, DeleteRequest, OfferRequest } from '../server/media/engine.ts';
import { findExecutable, openMediaEngine } from '../server/media/openMediaEngine.ts';
import { CLK_TCK, ownTicks, udpDrops, udpDropsOnPorts } from './lib/proc.ts';
import { bounded, track } from './lib/processes.ts';
import { table, type Columns } from './lib/table.ts';

const STEPS = (process.env.CALL_STEPS ?? '25 50 100 200 300 400 500 650 800 1000 1250 1500 2000').split(/\s+/).filter(Boolean).map(Number);
const STEP_S = Number(process.env.STEP_S ?? 6);
const WARMUP_S = Number(process.env.WARMUP_S ?? 1);
const BUDGET_MS = Number(process.env.STEP_BUDGET_S ?? 150) * 1000;
const ENGINE_NAMES = (process.env.ENGINES ?? 'embedded rtpengine').split(/\s+/).filter(Boolean);
const PORT_MIN = 34000;
const PORT_MAX = 34000 + 4 * Math.max(...STEPS) + 100;
const PACKET_INTERVAL_MS = 20;
const GENERATORS = Number(process.env.GENERATORS ?? 2);
/** Calls are spread over 4 slots of each 20 ms, as phones are not in step. */
const SLOT_MS = 5;
const LOSS_LIMIT = 0.001;

/** What the bench needs of an engine: SDP in, SDP out, delete; and the PID whose CPU is the relay's. */
interface BenchEngine {
  name: string;
  pid: number;
  offer(req: OfferRequest): Promise<string>;
  answer(req: AnswerRequest): Promise<string>;
  delete(req: DeleteRequest): Promise<void>;
  close(): Promise<void>;
}

interface Step {
  engine: string;
  calls: number;
  targetPps: number;
  sentPps: number;
  loss: number;
  relayCpu: number;
  genCpu: number;
  /** The generator's delay behind its schedule at the end of the window. */
  lagMs: number;
  /** Kernel drops on the relay's sockets, and everywhere else (the generator's, mostly). */
  relayDrops: number;
  otherDrops: number;
}

/**
 * Behind by more than 5 s at the end of a step: the generator cannot keep up, and it, not the
 * relay, is the limit. A shorter lag (the machine paused it) only makes the load burstier: every
 * packet is still sent and counted by its slot, so the loss figure stands.
 */
const generatorLimited = (s: Step) => s.lagMs > 5000;

const loadavg = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function embeddedEngine(): Promise<BenchEngine> {
  const child = track(
    fork(fileURLToPath(new URL('./lib/relayChild.ts', import.meta.url)), [], {
      execArgv: ['--import', 'tsx'],
      env: {
        ...process.env,
        MEDIA_BENCH_RELAY: JSON.stringify({ bindAddress: '127.0.0.1', advertisedAddress: '127.0.0.1', portMin: PORT_MIN, portMax: PORT_MAX, silence: { flagMs: 0, endMs: 0 } }),
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`relay child exited with ${code}`)));
  });
  let id = 0;
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  child.on('message', (m: { id: number; ok: boolean; value?: unknown; error?: string }) => {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.ok) w?.resolve(m.value);
    else w?.reject(new Error(m.error));
  });
  const call = <T>(op: string, req: unknown) =>
    new Promise<T>((resolve, reject) => {
      waiting.set(++id, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ id, op, req });
    });
  return {
    name: 'embedded',
    pid: child.pid!,
    offer: (req) => call('offer', req),
    answer: (req) => call('answer', req),
    delete: (req) => call('delete', req),
    close: async () => {
      child.disconnect();
      await bounded(child as ChildProcess, 10_000);
    },
  };
}

async function rtpengineEngine(): Promise<BenchEngine | undefined> {
  if (!findExecutable('rtpengine')) {
    console.log('rtpengine: not installed (apt-get install rtpengine-daemon), skipped');
    return undefined;
  }
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'media-bench-'));
  const engine = await openMediaEngine(
    {
      engine: 'rtpengine',
      bindAddress: '127.0.0.1',
      advertisedAddress: '127.0.0.1',
      portMin: PORT_MIN,
      portMax: PORT_MAX,
      noRtpFlagMs: 0,
      noRtpHangupMs: 0,
      rtpengine: { binary: 'rtpengine', ng: null },
    },
    { log: pino({ level: 'warn' }), dataDir },
  );
  const { readFileSync } = await import('node:fs');
  const pid = Number(readFileSync(path.join(dataDir, 'rtpengine.pid'), 'utf8').split('\n')[0]);
  return {
    name: 'rtpengine',
    pid,
    offer: (r) => engine.offer(r),
    answer: (r) => engine.answer(r),
    delete: (r) => engine.delete(r),
    close: async () => {
      await engine.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const SDP = (port: number) =>
  `v=0\r\no=- 1 1 IN IP4 127.0.0.99\r\ns=-\r\nc=IN IP4 127.0.0.99\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\na=sendrecv\r\n`;

/**
 * The load generator: GENERATORS processes (bench/lib/rtpLoadChild.ts), the calls dealt among
 * them, all on one schedule of 5 ms slots; a step's window is a range of slots.
 */
class Generator {
  calls = 0;
  private windowFrom = 0;
  private readonly children: ChildProcess[] = [];
  private readonly epoch = performance.timeOrigin + performance.now();

  async open(): Promise<void> {
    for (let i = 0; i < GENERATORS; i++) {
      const child = track(
        fork(fileURLToPath(new URL('./lib/rtpLoadChild.ts', import.meta.url)), [], {
          execArgv: ['--import', 'tsx'],
          env: { ...process.env, RTP_LOAD_EPOCH: String(this.epoch), RTP_LOAD_SLOT_MS: String(SLOT_MS) },
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        }),
      );
      await this.next(child, 'ready');
      this.children.push(child);
    }
  }

  get pids(): number[] {
    return this.children.map((c) => c.pid!);
  }

  private next<T>(child: ChildProcess, type: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: { type: string }) => {
        if (m.type !== type) return;
        child.off('message', onMessage);
        resolve(m as T);
      };
      child.on('message', onMessage);
      child.once('exit', (code) => reject(new Error(`load process exited with ${code}`)));
    });
  }

  add(calls: Array<{ toA: number; toB: number }>): void {
    const shares: Array<Array<{ index: number; toA: number; toB: number }>> = this.children.map(() => []);
    for (const c of calls) shares[this.calls % this.children.length]!.push({ index: this.calls++, ...c });
    this.children.forEach((child, i) => child.send({ type: 'add', calls: shares[i] }));
  }

  private slotNow(): number {
    return Math.ceil((performance.timeOrigin + performance.now() - this.epoch) / SLOT_MS);
  }

  /** Opens a counting window a few slots ahead (every process gets the message before it starts). */
  openWindow(): void {
    this.windowFrom = this.slotNow() + 4;
    for (const c of this.children) c.send({ type: 'open', from: this.windowFrom });
  }

  /** Closes the window now; resolves once every process has sent its slots and drained. */
  async closeWindow(): Promise<{ sent: number; received: number; lagMs: number; seconds: number }> {
    const to = this.slotNow();
    const seconds = ((to - this.windowFrom) * SLOT_MS) / 1000;
    const replies = await Promise.all(
      this.children.map((c) => {
        const reply = this.next<{ sent: number; received: number; lagMs: number }>(c, 'closed');
        c.send({ type: 'close', to });
        return reply;
      }),
    );
    return {
      sent: replies.reduce((n, r) => n + r.sent, 0),
      received: replies.reduce((n, r) => n + r.received, 0),
      lagMs: Math.max(...replies.map((r) => r.lagMs)),
      seconds,
    };
  }

  async close(): Promise<void> {
    for (const c of this.children) c.send({ type: 'stop' });
    await Promise.all(this.children.map((c) => bounded(c, 10_000)));
  }
}

async function addCalls(engine: BenchEngine, gen: Generator, upTo: number): Promise<void> {
  const added: Array<{ toA: number; toB: number }> = [];
  for (let n = gen.calls; n < upTo; n += 32) {
    const batch = Array.from({ length: Math.min(32, upTo - n) }, (_, k) => n + k);
    added.push(
      ...(await Promise.all(
        batch.map(async (i) => {
          const callId = `bench-${i}`;
          const offer = await engine.offer({ callId, fromTag: 'A', toTag: 'B', sdp: SDP(20000 + i) });
          const answer = await engine.answer({ callId, fromTag: 'A', toTag: 'B', sdp: SDP(50000 - i) });
          return { toA: Number(/m=audio (\d+)/.exec(answer)![1]), toB: Number(/m=audio (\d+)/.exec(offer)![1]) };
        }),
      )),
    );
  }
  gen.add(added);
}

async function ladder(engine: BenchEngine): Promise<Step[]> {
  const gen = new Generator();
  await gen.open();
  const steps: Step[] = [];
  const began = Date.now();
  const cols: Columns<Step> = [
    ['calls', (s) => s.calls],
    ['target pps', (s) => s.targetPps],
    ['sent pps', (s) => Math.round(s.sentPps)],
    ['loss %', (s) => (s.loss * 100).toFixed(3)],
    ['relay CPU %', (s) => s.relayCpu.toFixed(1)],
    ['CPU/call %', (s) => (s.relayCpu / s.calls).toFixed(3)],
    ['generator CPU %', (s) => s.genCpu.toFixed(1)],
    ['generator lag ms', (s) => Math.round(s.lagMs)],
    ['drops at relay', (s) => s.relayDrops],
    ['drops elsewhere', (s) => s.otherDrops],
  ];
  const out = table(cols, { minWidth: 6, gap: '  ' });
  console.log(`\n## ${engine.name} (pid ${engine.pid})`);
  out.header();
  try {
    for (const calls of STEPS) {
      if (Date.now() - began > BUDGET_MS) {
        console.log(`(time budget of ${BUDGET_MS / 1000} s used: ladder stopped)`);
        break;
      }
      await addCalls(engine, gen, calls);
      await sleep(WARMUP_S * 1000);
      gen.openWindow();
      const genTicks = () => gen.pids.reduce((sum, pid) => sum + ownTicks(pid), 0);
      const [relay0, gen0, drops0, relayDrops0, t0] = [ownTicks(engine.pid), genTicks(), udpDrops(), udpDropsOnPorts(PORT_MIN, PORT_MAX), performance.now()];
      await sleep(STEP_S * 1000);
      const [relay1, gen1, t1] = [ownTicks(engine.pid), genTicks(), performance.now()];
      const { sent, received, lagMs, seconds: windowSeconds } = await gen.closeWindow();
      const seconds = (t1 - t0) / 1000;
      const step: Step = {
        engine: engine.name,
        calls,
        targetPps: calls * 2 * (1000 / PACKET_INTERVAL_MS),
        sentPps: sent / windowSeconds,
        loss: Math.max(0, 1 - received / sent),
        relayCpu: ((relay1 - relay0) / CLK_TCK / seconds) * 100,
        genCpu: ((gen1 - gen0) / CLK_TCK / seconds) * 100,
        lagMs,
        relayDrops: udpDropsOnPorts(PORT_MIN, PORT_MAX) - relayDrops0,
        // The two counters are kept apart by the kernel (per socket, system-wide) and can disagree slightly.
        otherDrops: Math.max(0, udpDrops() - drops0 - (udpDropsOnPorts(PORT_MIN, PORT_MAX) - relayDrops0)),
      };
      steps.push(step);
      out.row(step);
      if (generatorLimited(step)) {
        console.log(`(the generator fell ${Math.round(step.lagMs)} ms behind 50 packets/s per leg: this is its limit, not the relay's)`);
        break;
      }
      if (step.loss >= LOSS_LIMIT) break;
    }
  } finally {
    await gen.close();
    for (let n = 0; n < gen.calls; n++) await engine.delete({ callId: `bench-${n}` }).catch(() => {});
  }
  return steps;
}

export async function mediaBench(): Promise<void> {
  console.log(`\n# bench/media.ts: relayed calls at 50 packets/s each way, < ${LOSS_LIMIT * 100} % loss (load average ${loadavg()}, ${os.cpus().length} CPUs)`);
  const results = new Map<string, Step[]>();
  for (const name of ENGINE_NAMES) {
    const engine = name === 'embedded' ? await embeddedEngine() : name === 'rtpengine' ? await rtpengineEngine() : undefined;
    if (!engine) continue;
    try {
      results.set(name, await ladder(engine));
    } finally {
      await engine.close();
    }
  }
  console.log('\n## side by side (the highest step under 0.1 % loss)');
  const best = new Map<string, Step | undefined>();
  for (const [name, steps] of results) best.set(name, steps.filter((s) => s.loss < LOSS_LIMIT && !generatorLimited(s)).at(-1));
  const anchor = best.get('rtpengine');
  for (const [name, s] of best) {
    if (!s) {
      console.log(`${name.padEnd(10)} no clean step`);
      continue;
    }
    const vs =
      anchor && name !== 'rtpengine'
        ? ` (${(s.calls / anchor.calls).toFixed(2)}× rtpengine's calls, ${(s.relayCpu / s.calls / (anchor.relayCpu / anchor.calls)).toFixed(2)}× its CPU per call)`
        : '';
    const cut = results.get(name)!.at(-1) === s ? ' (ladder ended clean: more may fit)' : '';
    console.log(`${name.padEnd(10)} ${String(s.calls).padStart(5)} calls, ${(s.relayCpu / s.calls).toFixed(3)} % of a core per call, ${s.relayCpu.toFixed(0)} % in all${vs}${cut}`);
  }
  console.log(`load average after: ${loadavg()}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await mediaBench();
