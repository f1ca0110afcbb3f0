/**
 * SIP over TLS and WebSocket: registrations per second over TLS (each one a new connection, as a
 * phone that reconnects makes: handshake, REGISTER, 401, REGISTER, 200, close), with TLS session
 * resumption and without, and how many idle WebSocket registrations one GB of the switch's memory
 * holds. The load client is our own (bench/lib/sipClient.ts): Debian's sipp has no TLS.
 *
 *   tsx bench/tls.ts      (or `npm run bench`)
 *
 * Calls per second with both legs on connections (a caller's INVITE, the callee's 200, ACK, BYE,
 * 0 hold as in calls.ts): over TLS and, with the same client, over plain TCP; calls.ts has UDP.
 *
 * Knobs: TLS_SECONDS [10] per run, TLS_CONCURRENCY [32], WS_IDLE [2000] WebSocket registrations.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CLK_TCK, rssMb, treeTicks } from './lib/proc.ts';
import { sleep } from './lib/processes.ts';
import { answerCalls, openTcp, openTls, openWebSocket, placeCall, register, type SipStream } from './lib/sipClient.ts';
import { startServer, switchEnv, type RunningServer } from './lib/switch.ts';
import { seed } from './register.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SECONDS = Number(process.env.TLS_SECONDS ?? 10);
const CONCURRENCY = Number(process.env.TLS_CONCURRENCY ?? 32);
const WS_IDLE = Number(process.env.WS_IDLE ?? 2000);
const USERS = Math.max(WS_IDLE, 1000);
const SIP_PORT = 27060;
const TLS_PORT = 27061;
const HTTP_PORT = 27080;
const HTTPS_PORT = 27443;

export interface TlsBenchResult {
  cores: number;
  cpuModel: string;
  tls: Array<{ resumption: boolean; registrationsPerSecond: number; ok: number; failed: number; resumedPct: number; switchCpuPct: number }>;
  calls: CallsRun[];
  webSocket: { registrations: number; rssBeforeMb: number; rssAfterMb: number; bytesEach: number; perGb: number };
}

/** New TLS connections registering for `SECONDS`, `CONCURRENCY` at a time. */
async function tlsRun(pid: number, resumption: boolean) {
  let session: Buffer | undefined;
  let ok = 0;
  let failed = 0;
  let resumed = 0;
  let n = 0;
  const t0 = Date.now();
  const ticks0 = treeTicks(pid);
  const end = t0 + SECONDS * 1000;
  const worker = async () => {
    while (Date.now() < end) {
      const user = (n++ % USERS) + 1;
      try {
        const { stream, resumed: r } = await openTls(TLS_PORT, resumption ? { ...(session ? { session } : {}), onSession: (s) => (session = s) } : {});
        if (r) resumed++;
        const reply = await register(stream, 'TLS', `127.0.0.1:${TLS_PORT}`, user);
        stream.close();
        if (reply?.status === 200) ok++;
        else failed++;
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const wall = (Date.now() - t0) / 1000;
  return {
    resumption,
    registrationsPerSecond: Math.round(ok / wall),
    ok,
    failed,
    resumedPct: Math.round((100 * resumed) / Math.max(1, ok + failed)),
    switchCpuPct: Math.round((100 * (treeTicks(pid) - ticks0)) / CLK_TCK / wall),
  };
}

interface CallsRun {
  transport: 'TLS' | 'TCP';
  callsPerSecond: number;
  answered: number;
  failed: number;
  switchCpuPct: number;
  cpuMsPerCall: number;
}

/** How many registered phones take the calls (each on a connection of its own). */
const CALLEES = 16;

/**
 * `CONCURRENCY` callers, each on one connection kept open, calling `CALLEES` registered phones in
 * turn for `SECONDS`, each call hung up as soon as it is answered.
 */
async function callsRun(pid: number, transport: 'TLS' | 'TCP', seconds = SECONDS): Promise<CallsRun> {
  const open = () => (transport === 'TLS' ? openTls(TLS_PORT).then((c) => c.stream) : openTcp(SIP_PORT));
  const hostPort = `127.0.0.1:${transport === 'TLS' ? TLS_PORT : SIP_PORT}`;
  const streams: SipStream[] = [];
  try {
    const callees = [];
    for (let i = 1; i <= CALLEES; i++) {
      const stream = await open();
      streams.push(stream);
      const reply = await register(stream, transport, hostPort, i);
      if (reply?.status !== 200) throw new Error(`callee user${i} did not register over ${transport}: ${reply?.status}`);
      callees.push(answerCalls(stream, transport, `user${i}`));
    }
    let answered = 0;
    let failed = 0;
    let n = 0;
    const t0 = Date.now();
    const ticks0 = treeTicks(pid);
    const end = t0 + seconds * 1000;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        const stream = await open();
        streams.push(stream);
        while (Date.now() < end) {
          const status = await placeCall(stream, transport, hostPort, `user${(n++ % CALLEES) + 1}`);
          if (status === 200) answered++;
          else failed++;
          if (status === 0) return;
        }
      }),
    );
    const wall = (Date.now() - t0) / 1000;
    const cpuSeconds = (treeTicks(pid) - ticks0) / CLK_TCK;
    return {
      transport,
      callsPerSecond: Math.round(answered / wall),
      answered,
      failed,
      switchCpuPct: Math.round((100 * cpuSeconds) / wall),
      cpuMsPerCall: Number(((1000 * cpuSeconds) / Math.max(1, answered)).toFixed(2)),
    };
  } finally {
    for (const s of streams) s.close();
  }
}

/** `WS_IDLE` WebSockets, each registered once and then left idle; the switch's RSS before and after. */
async function idleWebSockets(pid: number) {
  const streams: SipStream[] = [];
  global.gc?.();
  await sleep(2000);
  const before = rssMb(pid);
  try {
    for (let i = 0; i < WS_IDLE; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, WS_IDLE - i) }, async (_, k) => {
          // Spread over source addresses, as phones are.
          const s = await openWebSocket(HTTP_PORT, `127.0.${1 + (((i + k) >> 8) % 200)}.${1 + ((i + k) % 250)}`);
          streams.push(s);
          const reply = await register(s, 'WS', `127.0.0.1:${HTTP_PORT}`, i + k + 1);
          if (reply?.status !== 200) throw new Error(`WebSocket registration ${i + k + 1} failed: ${reply?.status}`);
        }),
      );
    }
    await sleep(5000);
    const after = rssMb(pid);
    const bytesEach = Math.round(((after - before) * 1024 * 1024) / WS_IDLE);
    return { registrations: WS_IDLE, rssBeforeMb: Math.round(before), rssAfterMb: Math.round(after), bytesEach, perGb: Math.floor(1024 ** 3 / Math.max(1, bytesEach)) };
  } finally {
    for (const s of streams) s.close();
  }
}

export async function tlsBench(): Promise<TlsBenchResult> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const outDir = path.join(ROOT, 'bench-results', `tls-${stamp}`);
  mkdirSync(outDir, { recursive: true });
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'sipswitch-bench-tls-'));
  let server: RunningServer | undefined;
  try {
    const databaseUrl = `sqlite://${path.join(dataDir, 'switch.sqlite')}`;
    await seed(databaseUrl, USERS);
    server = await startServer(
      {
        ...switchEnv({ sipPort: SIP_PORT, httpPort: HTTP_PORT, dataDir, databaseUrl }),
        SIP_TLS_PORT: String(TLS_PORT),
        HTTPS_PORT: String(HTTPS_PORT),
        SIP_CONNECTIONS_PER_SOURCE: '100000',
        SIP_TCP_MAX_CONNECTIONS: '100000',
        // One tenant carries every call: its limits would measure themselves (as in calls.ts).
        CALLS_PER_TENANT: '100000',
        DIALPLAN_TENANT_CONCURRENCY: '1000',
      },
      path.join(outDir, 'switch.log'),
    );
    console.log(`\n## SIP over TLS: new connection per registration (handshake + REGISTER/401/REGISTER/200), ${CONCURRENCY} at a time, ${SECONDS} s each`);
    const tls = [await tlsRun(server.pid, false), await tlsRun(server.pid, true)];
    console.log('resumption  registrations/s  ok  failed  resumed%  switch_cpu%');
    for (const r of tls) console.log(`${r.resumption ? 'yes' : 'no '}         ${r.registrationsPerSecond}  ${r.ok}  ${r.failed}  ${r.resumedPct}  ${r.switchCpuPct}`);
    console.log(`\n## calls with both legs on connections: ${CONCURRENCY} callers, ${CALLEES} registered phones answering, 0 hold, ${SECONDS} s each`);
    // A few seconds of calls first, unreported: the dialplan workers' contexts and the JIT warm up.
    await callsRun(server.pid, 'TCP', 3);
    const calls = [await callsRun(server.pid, 'TCP'), await callsRun(server.pid, 'TLS')];
    console.log('transport  calls/s  answered  failed  switch_cpu%  cpu_ms/call');
    for (const c of calls) console.log(`${c.transport}        ${c.callsPerSecond}  ${c.answered}  ${c.failed}  ${c.switchCpuPct}  ${c.cpuMsPerCall}`);
    console.log(`\n## idle WebSocket registrations: ${WS_IDLE} WebSockets, each registered once, then idle`);
    const webSocket = await idleWebSockets(server.pid);
    console.log(`RSS ${webSocket.rssBeforeMb} MB -> ${webSocket.rssAfterMb} MB: ${webSocket.bytesEach} bytes each, about ${webSocket.perGb.toLocaleString('en')} per GB`);
    const result: TlsBenchResult = { cores: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '?', tls, calls, webSocket };
    writeFileSync(path.join(outDir, 'result.json'), JSON.stringify(result, null, 2));
    return result;
  } finally {
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await tlsBench();
}
