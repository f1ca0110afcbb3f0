/**
 * The media bench (issue 16): how many relayed calls at once, each sending 50 RTP packets/s each
 * way (G.711, 20 ms, 172-byte datagrams), with under 0.1 % loss, and the relay's CPU per call,
 * for each engine side by side; rtpengine's figures are the anchor.
 *
 * A ladder of concurrent calls: each step adds calls (offer + answer through the engine, SDPs that
 * name 127.0.0.99, so every leg is latched from its packets), sends for WARMUP_S, then counts for
 * STEP_S: packets sent and received end to end, the relay's CPU (the rtpengine daemon, or the
 * embedded relay in a process of its own) from /proc, the generator's CPU, and kernel UDP drops.
 * A step with 0.1 % loss or more ends the ladder; so does a generator that cannot keep 50 pps
 * (then the figure is the generator's limit, and the table says so). Bounded: STEP_BUDGET_S per
 * engine, at most the last step of CALL_STEPS.
 *
 *   tsx bench/media.ts     (also part of `npm run bench`)
 *
 * Knobs: CALL_STEPS, STEP_S [6], WARMUP_S [1], ENGINES [embedded rtpengine], STEP_BUDGET_S [150].
 */
import { fork, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { AnswerRequest, DeleteRequest, OfferRequest } from '../server/media/engine.ts';
import { findExecutable, openMediaEngine } from '../server/media/openMediaEngine.ts';
import { CLK_TCK, ownTicks, udpDrops } from './lib/proc.ts';
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
/** Sub-ticks per 20 ms: calls are spread over them, as real phones are not in step. */
const PHASES = 4;
const SOCKETS_PER_SIDE = 4;
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
  drops: number;
}

const loadavg = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function embeddedEngine(): Promise<BenchEngine> {
  const child = track(
    fork(fileURLToPath(new URL('./lib/relayChild.ts', import.meta.url)), [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, MEDIA_BENCH_RELAY: JSON.stringify({ bindAddress: '127.0.0.1', advertisedAddress: '127.0.0.1', portMin: PORT_MIN, portMax: PORT_MAX, silence: { flagMs: 0, endMs: 0 } }) },
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
    { engine: 'rtpengine', direct: false, bindAddress: '127.0.0.1', advertisedAddress: '127.0.0.1', portMin: PORT_MIN, portMax: PORT_MAX, noRtpFlagMs: 0, noRtpHangupMs: 0, rtpengine: { binary: 'rtpengine', ng: null } },
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

const SDP = (port: number) => `v=0\r\no=- 1 1 IN IP4 127.0.0.99\r\ns=-\r\nc=IN IP4 127.0.0.99\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\na=sendrecv\r\n`;

/**
 * The load generator: a few sockets per side; each call's legs are told apart by the relay's port.
 * Every packet carries the sub-tick it was sent in (first payload bytes), so a step counts exactly
 * the packets sent in its window and, after a drain, those of them that arrived.
 */
class Generator {
  readonly calls: Array<{ toA: number; toB: number; seqA: number; seqB: number }> = [];
  /** Sub-ticks [from, to) whose packets are counted; to = Infinity while the window is open. */
  private window = { from: Infinity, to: Infinity };
  sentInWindow = 0;
  receivedInWindow = 0;
  private tick = 0;
  private readonly sides: dgram.Socket[][] = [[], []];
  private running = false;
  private loop: Promise<void> | undefined;

  async open(): Promise<void> {
    for (const side of this.sides) {
      for (let i = 0; i < SOCKETS_PER_SIDE; i++) {
        // The relay's ports are IP literals: no resolver round trip per send (as in the relay itself).
        const lookup = (address: string, _f: unknown, cb: (e: null, a: string, f: number) => void) => cb(null, address, 4);
        const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 * 1024 * 1024, sendBufferSize: 8 * 1024 * 1024, lookup: lookup as never });
        await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
        s.on('message', (msg) => {
          const t = msg.length >= 16 ? msg.readUInt32BE(12) : -1;
          if (t >= this.window.from && t < this.window.to) this.receivedInWindow++;
        });
        side.push(s);
      }
    }
  }

  /** Opens a counting window at the next sub-tick. */
  openWindow(): void {
    this.window = { from: this.tick + 1, to: Infinity };
    this.sentInWindow = 0;
    this.receivedInWindow = 0;
  }

  /** Closes the window; resolves once its packets stopped arriving (or after 5 s). */
  async closeWindow(): Promise<{ sent: number; received: number }> {
    this.window = { ...this.window, to: this.tick + 1 };
    const sent = this.sentInWindow;
    let last = -1;
    for (const deadline = Date.now() + 5000; this.receivedInWindow !== last && Date.now() < deadline; ) {
      last = this.receivedInWindow;
      await sleep(300);
    }
    return { sent, received: this.receivedInWindow };
  }

  private packet(callIndex: number, seq: number, tick: number): Buffer {
    const b = Buffer.allocUnsafe(172);
    b[0] = 0x80;
    b[1] = 0;
    b.writeUInt16BE(seq & 0xffff, 2);
    b.writeUInt32BE((seq * 160) >>> 0, 4);
    b.writeUInt32BE(callIndex, 8);
    b.writeUInt32BE(tick, 12);
    b.fill(0xff, 16);
    return b;
  }

  start(): void {
    this.running = true;
    this.loop = (async () => {
      const start = performance.now();
      for (; this.running; this.tick++) {
        const phase = this.tick % PHASES;
        const wait = start + (this.tick * PACKET_INTERVAL_MS) / PHASES - performance.now();
        // Behind schedule, a sub-tick is still sent only once: a generator that cannot keep up
        // sends less, and says so. Either way received packets get their turn.
        await (wait > 1 ? sleep(wait) : new Promise((r) => setImmediate(r)));
        const counted = this.tick >= this.window.from && this.tick < this.window.to;
        for (let i = phase; i < this.calls.length; i += PHASES) {
          const c = this.calls[i]!;
          this.sides[0]![i % SOCKETS_PER_SIDE]!.send(this.packet(i, c.seqA++, this.tick), c.toA, '127.0.0.1');
          this.sides[1]![i % SOCKETS_PER_SIDE]!.send(this.packet(i, c.seqB++, this.tick), c.toB, '127.0.0.1');
          if (counted) this.sentInWindow += 2;
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  close(): void {
    for (const side of this.sides) for (const s of side) s.close();
  }
}

async function addCalls(engine: BenchEngine, gen: Generator, upTo: number): Promise<void> {
  const indices = Array.from({ length: upTo - gen.calls.length }, (_, k) => gen.calls.length + k);
  const results: Array<{ toA: number; toB: number; seqA: number; seqB: number }> = [];
  for (let i = 0; i < indices.length; i += 32) {
    await Promise.all(
      indices.slice(i, i + 32).map(async (n) => {
        const callId = `bench-${n}`;
        const offer = await engine.offer({ callId, fromTag: 'A', toTag: 'B', sdp: SDP(20000 + n) });
        const answer = await engine.answer({ callId, fromTag: 'A', toTag: 'B', sdp: SDP(50000 - n) });
        results[n - gen.calls.length] = { toA: Number(/m=audio (\d+)/.exec(answer)![1]), toB: Number(/m=audio (\d+)/.exec(offer)![1]), seqA: 0, seqB: 0 };
      }),
    );
  }
  gen.calls.push(...results);
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
    ['UDP drops', (s) => s.drops],
  ];
  const out = table(cols, { minWidth: 6, gap: '  ' });
  console.log(`\n## ${engine.name} (pid ${engine.pid})`);
  out.header();
  try {
    gen.start();
    for (const calls of STEPS) {
      if (Date.now() - began > BUDGET_MS) {
        console.log(`(time budget of ${BUDGET_MS / 1000} s used: ladder stopped)`);
        break;
      }
      await addCalls(engine, gen, calls);
      await sleep(WARMUP_S * 1000);
      gen.openWindow();
      const [relay0, gen0, drops0, t0] = [ownTicks(engine.pid), ownTicks(process.pid), udpDrops(), performance.now()];
      await sleep(STEP_S * 1000);
      const [relay1, gen1, t1] = [ownTicks(engine.pid), ownTicks(process.pid), performance.now()];
      const { sent, received } = await gen.closeWindow();
      const seconds = (t1 - t0) / 1000;
      const step: Step = {
        engine: engine.name,
        calls,
        targetPps: calls * 2 * (1000 / PACKET_INTERVAL_MS),
        sentPps: sent / seconds,
        loss: Math.max(0, 1 - received / sent),
        relayCpu: ((relay1 - relay0) / CLK_TCK / seconds) * 100,
        genCpu: ((gen1 - gen0) / CLK_TCK / seconds) * 100,
        drops: udpDrops() - drops0,
      };
      steps.push(step);
      out.row(step);
      if (step.sentPps < 0.98 * step.targetPps) {
        console.log('(the generator could not keep 50 packets/s per leg: this is its limit, not the relay’s)');
        break;
      }
      if (step.loss >= LOSS_LIMIT) break;
    }
  } finally {
    await gen.stop();
    gen.close();
    for (let n = 0; n < gen.calls.length; n++) await engine.delete({ callId: `bench-${n}` }).catch(() => {});
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
  for (const [name, steps] of results) best.set(name, steps.filter((s) => s.loss < LOSS_LIMIT && s.sentPps >= 0.98 * s.targetPps).at(-1));
  const anchor = best.get('rtpengine');
  for (const [name, s] of best) {
    if (!s) {
      console.log(`${name.padEnd(10)} no clean step`);
      continue;
    }
    const vs = anchor && name !== 'rtpengine' ? ` (${(s.calls / anchor.calls).toFixed(2)}× rtpengine's calls, ${((s.relayCpu / s.calls) / (anchor.relayCpu / anchor.calls)).toFixed(2)}× its CPU per call)` : '';
    const cut = results.get(name)!.at(-1) === s ? ' (ladder ended clean: more may fit)' : '';
    console.log(`${name.padEnd(10)} ${String(s.calls).padStart(5)} calls, ${(s.relayCpu / s.calls).toFixed(3)} % of a core per call, ${s.relayCpu.toFixed(0)} % in all${vs}${cut}`);
  }
  console.log(`load average after: ${loadavg()}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await mediaBench();
