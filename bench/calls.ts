/**
 * Calls through the switch with a dialplan per call (issue 4's bench), measured the way the Kamailio
 * reference was (../shared/anchors/kamailio/run.sh): sipp UAC → switch → sipp UAS on loopback, the
 * anchor's uac.xml/uas.xml (as test/fixtures/sipp/bench_uac.xml / bench_uas.xml), the same sipp flags,
 * 10 s rate steps and the same "clean" rule. Three parts (and 2b, the cost of call-state persistence; 2c, the cost of the media relay):
 *
 *  1. rate ladder of 0-hold calls: highest clean calls/s, switch CPU (main process + dialplan worker
 *     children, from /proc), sipp CPU, peak calls in flight, average INVITE→200 (sipp, 1 ms resolution);
 *  2. the switch's own INVITE-received → outbound-INVITE-sent time at 100 calls/s, p50/p90/p99/max,
 *     from loopback packet timestamps (an AF_PACKET sniffer like the anchor's sipsniff.py, but pairing
 *     the two legs of the B2BUA by the caller's From user, unique per call, since the Call-IDs differ);
 *  2c. the same calls under the other media modes (rtpengine, embedded relay, direct media) at the
 *     ladder's best clean rate and above: what the relay costs call set-up (the aim: within 20 %);
 *  3. memory per held call: 5 000 calls held, switch RSS/PSS and V8 heap before and while held.
 *
 * Every call comes from a caller that is not an account (From user caller<N>) to the account `bench`
 * (R-URI sip:bench@127.0.0.1:<port>), which runs that account's five-line receiving dialplan `in5`;
 * the dialplan dials the sipp UAS by URI. The switch runs as `npm start` runs it, in its own process.
 *
 *   tsx bench/calls.ts        (or `npm run bench`)
 *
 * Knobs: CALL_RATES (the ladder), STEP_S [10], LAT_RATE [100], LAT_S [10], HELD_CALLS [5000],
 * HELD_RATE [min(500, best clean rate), at least 200], PROFILE_DIR.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { findExecutable } from '../server/media/openMediaEngine.ts';
import { computeHa1 } from '../server/sip/digest.ts';
import { Store } from '../server/store/index.ts';
import { CLK_TCK, childrenOf, ownTicks, pssKb, stealTicks, statusKb, switchTicks, udpDrops, udpPortBound } from './lib/proc.ts';
import { percentile } from './lib/load.ts';
import { bounded, killAll, sleep, track } from './lib/processes.ts';
import { requireSipp, sippMs, sippStats, spawnSipp } from './lib/sipp.ts';
import { drain, metrics, startServer, switchEnv, type RunningServer } from './lib/switch.ts';
import { table, type Columns } from './lib/table.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const UAC_SF = path.join(ROOT, 'test/fixtures/sipp/bench_uac.xml');
const UAS_SF = path.join(ROOT, 'test/fixtures/sipp/bench_uas.xml');
const RATES = (process.env.CALL_RATES ?? '100 200 300 400 500 600 700 800 1000 1200 1500').split(/\s+/).filter(Boolean).map(Number);
const STEP_S = Number(process.env.STEP_S ?? 10);
const LAT_RATE = Number(process.env.LAT_RATE ?? 100);
const LAT_S = Number(process.env.LAT_S ?? 10);
const HELD_CALLS = Number(process.env.HELD_CALLS ?? 5000);
const WARMUP_RATE = 100;
const WARMUP_CALLS = 300;
// Ports shifted out of the way of a switch (or the register bench) already running here.
const SIP_PORT = 26060;
const HTTP_PORT = 28090;
/** The switch's inspector (127.0.0.1 only), enabled for the memory section to force GCs. */
const INSPECT_PORT = 29290;
const UAC_PORT = 26061;
const UAS_PORT = 26090;
const ACCOUNT = 'bench';
/** The ladder starts no new step after this long; the whole bench stays well under 8 minutes. */
const LADDER_BUDGET_MS = 3 * 60_000;
/** The switch keeps an INVITE transaction 64×T1 = 32 s after its 2xx (RFC 6026 Accepted / Timer L). */
const TX_LINGER_S = 32;

/**
 * The media modes compared (section 2c): the relay engines and direct media (signalling only). The
 * ladder runs with the relay production uses: rtpengine where it is installed, else the embedded one.
 */
const MEDIA_MODES = ['rtpengine', 'embedded', 'direct'] as const;
type MediaMode = (typeof MEDIA_MODES)[number];
const RTPENGINE_HERE = findExecutable('rtpengine') !== undefined;
const LADDER_MEDIA: MediaMode = RTPENGINE_HERE ? 'rtpengine' : 'embedded';

/** Per-tenant limits raised for the bench (the defaults are 20 calls and 5 dialplans per tenant). */
const LIMITS: Record<string, string> = {
  CALLS_PER_TENANT: '100000',
  DIALPLAN_TENANT_CONCURRENCY: '1000',
  DIALPLAN_WORKER_CONCURRENCY: '500',
  DIALPLAN_WORKERS: '2',
};

const DIALPLAN = `export default async function (call) {
  log(\`call from \${call.from.user}\`);
  const r = await dial('sip:9000@127.0.0.1:${UAS_PORT}', { timeout: 10 });
  if (!r.answered) return respond(480);
}
`;

const loadavg = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

const num = (v: string | undefined) => Number(v ?? 0) || 0;

/** Waits (at most 45 s) until the switch, dialplan workers included, is idle again, so one step's leftovers do not hit the next. */
const settle = (pid: number) =>
  drain(
    pid,
    (p) => {
      const t = switchTicks(p);
      return t.main + t.workers;
    },
    45_000,
  );

// ------------------------------------------------------------------ processes

/** CPU of a short-lived process: sampled every 100 ms while it runs (its last 100 ms are lost). */
function cpuSampler(pid: number): () => number {
  const t0 = ownTicks(pid);
  let last = t0;
  const timer = setInterval(() => {
    const t = ownTicks(pid);
    if (t > 0) last = t;
  }, 100).unref();
  return () => {
    clearInterval(timer);
    const t = ownTicks(pid);
    return (t > 0 ? t : last) - t0;
  };
}

/**
 * Forces full garbage collections in the switch through its inspector (127.0.0.1 only, enabled for
 * the memory section) and returns its `process.memoryUsage()` right after, in KB. A tiny Node child
 * does the talking, since Node 20 has a WebSocket client only behind --experimental-websocket.
 */
const GC_CLIENT = `
const list = await (await fetch('http://127.0.0.1:' + process.argv[1] + '/json/list')).json();
const ws = new WebSocket(list[0].webSocketDebuggerUrl);
await new Promise((ok, ko) => { ws.onopen = ok; ws.onerror = ko; });
let id = 0;
const pending = new Map();
ws.onmessage = (e) => { const m = JSON.parse(e.data); pending.get(m.id)?.(m); };
const call = (method, params = {}) => new Promise((ok) => { pending.set(++id, ok); ws.send(JSON.stringify({ id, method, params })); });
await call('HeapProfiler.collectGarbage');
await call('HeapProfiler.collectGarbage');
const r = await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true });
console.log(r.result.result.value);
ws.close();
process.exit(0);
`;

async function gcAndMemoryUsage(inspectPort: number): Promise<Record<string, number> | null> {
  const child = track(
    spawn(process.execPath, ['--experimental-websocket', '--no-warnings', '--input-type=module', '-e', GC_CLIENT, String(inspectPort)], { stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const code = await bounded(child, 15_000);
  try {
    if (code !== 0) throw new Error(out);
    const m = JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, number>;
    return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Math.round(v / 1024)]));
  } catch {
    console.log(`# note: forced GC through the inspector failed (${out.trim().slice(0, 200)}); heap figures are minima of samples`);
    return null;
  }
}

// ------------------------------------------------------------------ sipp peers

interface Sipp {
  child: ChildProcess;
  stf: string;
  cpu: () => number;
}

function sipp(args: string[], outDir: string, tag: string, timeoutS: number): Sipp {
  const { child, stf } = spawnSipp(args, outDir, tag, timeoutS);
  return { child, stf, cpu: cpuSampler(child.pid!) };
}

async function startUas(outDir: string, tag: string, calls: number, timeoutS: number): Promise<Sipp> {
  const uas = sipp(['-sf', UAS_SF, '-default_behaviors', 'all,-abortunexp', '-i', '127.0.0.1', '-p', String(UAS_PORT), '-m', String(calls)], outDir, `${tag}.uas`, timeoutS);
  const deadline = Date.now() + 5000;
  while (!udpPortBound(UAS_PORT)) {
    if (uas.child.exitCode !== null || Date.now() > deadline) throw new Error(`sipp UAS did not bind 127.0.0.1:${UAS_PORT}; see ${tag}.uas.log`);
    await sleep(50);
  }
  return uas;
}

function startUac(outDir: string, tag: string, o: { rate: number; calls: number; holdMs: number; limit?: number; timeoutS: number; extra?: string[] }): Sipp {
  return sipp(
    [
      `127.0.0.1:${SIP_PORT}`,
      '-sf',
      UAC_SF,
      '-s',
      ACCOUNT,
      '-i',
      '127.0.0.1',
      '-p',
      String(UAC_PORT),
      '-t',
      'u1',
      '-r',
      String(o.rate),
      '-m',
      String(o.calls),
      '-d',
      String(o.holdMs),
      ...(o.limit ? ['-l', String(o.limit)] : []),
      ...(o.extra ?? []),
    ],
    outDir,
    `${tag}.uac`,
    o.timeoutS,
  );
}

/** The UAS exits by itself once its -m calls are done (plus the scenario's 4 s timewait). */
async function finishUas(uas: Sipp, waitS: number): Promise<number> {
  await bounded(uas.child, waitS * 1000);
  return uas.cpu();
}

// ------------------------------------------------------------------ data

/** One tenant, the account `bench` and its five-line receiving dialplan, written straight through the store. */
async function seed(databaseUrl: string): Promise<void> {
  const store = await Store.open(databaseUrl);
  try {
    const owner = await store.directory.createTenantWithOwner(`bench-${randomBytes(4).toString('hex')}@example.com`, 'bench-owner-cannot-log-in');
    const scope = store.tenant(owner.tenantId);
    const realm = '127.0.0.1';
    const pw = randomBytes(12).toString('hex');
    const account = await scope.sipAccounts.create({
      username: ACCOUNT,
      displayName: null,
      realm,
      ha1Md5: computeHa1('MD5', ACCOUNT, realm, pw),
      ha1Sha256: computeHa1('SHA-256', ACCOUNT, realm, pw),
      digestAlgorithms: null,
    });
    await scope.dialplans.save('in5', DIALPLAN);
    await scope.sipAccounts.update(account.id, { dialplanIn: 'in5' });
  } finally {
    await store.close();
  }
}

// ------------------------------------------------------------------ 1. the ladder

export interface StepResult {
  target: number;
  achieved: number;
  calls: number;
  ok: number;
  failed: number;
  failedUas: number;
  retrans: number;
  retransUas: number;
  switchCpu: number;
  workersCpu: number;
  uacCpu: number;
  uasCpu: number;
  rt1AvgMs: number | null;
  rt2AvgMs: number | null;
  peakInFlight: number;
  udpDrops: number;
  stealPct: number;
  switchRssMb: number;
  load1: number;
  clean: boolean;
}

async function callStep(rate: number, serverPid: number, outDir: string, tag: string, calls = rate * STEP_S, extra: string[] = []): Promise<StepResult> {
  const timeoutS = Math.ceil(calls / rate) + 30;
  const uas = await startUas(outDir, tag, calls, timeoutS + 10);
  const t0 = switchTicks(serverPid);
  const drops0 = udpDrops();
  const steal0 = stealTicks();
  const started = process.hrtime.bigint();
  const uac = startUac(outDir, tag, { rate, calls, holdMs: 0, timeoutS, extra });
  await bounded(uac.child, (timeoutS + 20) * 1000);
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const t1 = switchTicks(serverPid);
  const uacTicks = uac.cpu();
  const drops = udpDrops() - drops0;
  const steal = stealTicks() - steal0;
  const rssMb = Math.round(statusKb(serverPid, 'VmRSS') / 1024);
  const uasTicks = await finishUas(uas, 15);

  const { last, peakInFlight } = sippStats(uac.stf);
  const u = sippStats(uas.stf).last;
  const ok = num(last['SuccessfulCall(C)']);
  const failed = num(last['FailedCall(C)']);
  const retrans = num(last['Retransmissions(C)']);
  const failedUas = num(u['FailedCall(C)']);
  const retransUas = num(u['Retransmissions(C)']);
  const achieved = Math.round(ok / wall);
  const pct = (ticks: number) => Math.round((100 * ticks) / CLK_TCK / wall);
  return {
    target: rate,
    achieved,
    calls,
    ok,
    failed,
    failedUas,
    retrans,
    retransUas,
    switchCpu: pct(t1.main + t1.workers - t0.main - t0.workers),
    workersCpu: pct(t1.workers - t0.workers),
    uacCpu: pct(uacTicks),
    uasCpu: pct(uasTicks),
    rt1AvgMs: sippMs(last['ResponseTime1(C)']),
    rt2AvgMs: sippMs(last['ResponseTime2(C)']),
    peakInFlight,
    udpDrops: drops,
    stealPct: Math.round((1000 * steal) / CLK_TCK / wall / os.cpus().length) / 10,
    switchRssMb: rssMb,
    load1: Number(os.loadavg()[0]!.toFixed(2)),
    clean: failed === 0 && failedUas === 0 && retrans === 0 && retransUas === 0 && ok === calls && achieved >= 0.95 * rate && peakInFlight <= Math.max(50, rate / 20),
  };
}

const COLUMNS: Columns<StepResult> = [
  ['target/s', (s) => s.target],
  ['achieved/s', (s) => s.achieved],
  ['calls', (s) => s.calls],
  ['ok', (s) => s.ok],
  ['failed', (s) => s.failed],
  ['fail_uas', (s) => s.failedUas],
  ['retr_uac', (s) => s.retrans],
  ['retr_uas', (s) => s.retransUas],
  ['switch_cpu%', (s) => s.switchCpu],
  ['of_which_dp_workers%', (s) => s.workersCpu],
  ['uac_cpu%', (s) => s.uacCpu],
  ['uas_cpu%', (s) => s.uasCpu],
  ['rt1_avg_ms', (s) => (s.rt1AvgMs === null ? '-' : s.rt1AvgMs.toFixed(2))],
  ['rt2_avg_ms', (s) => (s.rt2AvgMs === null ? '-' : s.rt2AvgMs.toFixed(2))],
  ['peak_inflight', (s) => s.peakInFlight],
  ['udp_drops', (s) => s.udpDrops],
  ['steal%', (s) => s.stealPct],
  ['rss_MB', (s) => s.switchRssMb],
  ['load1', (s) => s.load1],
  ['clean', (s) => (s.clean ? 'yes' : 'no')],
];

const TABLE = table(COLUMNS, { minWidth: 5, gap: ' ' });

// ------------------------------------------------------------------ 2. latency from packets

/**
 * A loopback sniffer (AF_PACKET, root only; stdlib Python, bounded by its own timer). For each call
 * it pairs the INVITE entering the switch (dst = switch port) with the INVITE the switch sends to the
 * UAS by the From user, which the UAC makes unique per call and the switch copies into its outbound
 * From; the 200 OK relay is paired through the two Call-IDs learnt from those INVITEs. Times are the
 * kernel's packet timestamps (SO_TIMESTAMPNS), so the figure is what the switch adds on the wire:
 * socket queueing + parsing + pipeline + dialplan run in a worker (IPC both ways) + the outbound send.
 */
const SNIFFER = String.raw`
import select, socket, struct, sys, time, re
SO_TIMESTAMPNS = 35
PACKET_OUTGOING = 4
secs, sw, uas, out = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
s.bind(("lo", 0))
s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
try:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
except OSError:
    pass
print("ready", flush=True)
FROM = re.compile(rb"^(?:from|f)\s*:[^\r\n]*?sips?:([^@;>\s]+)@", re.I | re.M)
CALLID = re.compile(rb"^(?:call-id|i)\s*:\s*(\S+)", re.I | re.M)
CSEQ = re.compile(rb"^cseq\s*:\s*\d+\s+(\w+)", re.I | re.M)
inv_in = {}     # from user -> (t, inbound call-id)
trying = []     # INVITE in -> 100 Trying out, us
inv_lat = []    # INVITE in -> INVITE out, us
a_of_b = {}     # outbound call-id -> inbound call-id
ok_in = {}      # outbound call-id -> t of the UAS's 200 OK
ok_lat = []     # 200 from UAS in -> 200 to UAC out, us
t_in_by_a = {}
seen = 0
end = time.monotonic() + secs
while time.monotonic() < end:
    r, _, _ = select.select([s], [], [], 0.2)
    if not r:
        continue
    data, anc, _, addr = s.recvmsg(65535, 64)
    if addr[2] == PACKET_OUTGOING:
        continue
    ts = None
    for lvl, typ, val in anc:
        if lvl == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
            sec, nsec = struct.unpack("qq", val[:16])
            ts = sec * 1e6 + nsec / 1e3
    if ts is None or len(data) < 42 or data[12:14] != b"\x08\x00":
        continue
    ip = data[14:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[9] != 17:
        continue
    sport, dport = struct.unpack("!HH", ip[ihl:ihl + 4])
    if sport != sw and dport != sw:
        continue
    payload = ip[ihl + 8:]
    head = payload.split(b"\r\n\r\n", 1)[0]
    first = head.split(b"\r\n", 1)[0]
    m = CALLID.search(head); c = CSEQ.search(head)
    if not m or not c:
        continue
    cid = m.group(1); method = c.group(1)
    seen += 1
    if first.startswith(b"INVITE ") and dport == sw:
        f = FROM.search(head)
        if f and f.group(1) not in inv_in:
            inv_in[f.group(1)] = (ts, cid)
            t_in_by_a[cid] = ts
    elif first.startswith(b"INVITE ") and sport == sw and dport == uas:
        f = FROM.search(head)
        hit = inv_in.get(f.group(1)) if f else None
        if hit and cid not in a_of_b:
            inv_lat.append(ts - hit[0])
            a_of_b[cid] = hit[1]
    elif first.startswith(b"SIP/2.0 100") and sport == sw and method == b"INVITE":
        t = t_in_by_a.pop(cid, None)
        if t is not None:
            trying.append(ts - t)
    elif first.startswith(b"SIP/2.0 200") and method == b"INVITE" and dport == sw and sport == uas:
        ok_in.setdefault(cid, ts)
    elif first.startswith(b"SIP/2.0 200") and method == b"INVITE" and sport == sw and dport != uas:
        for b, a in list(a_of_b.items()):
            if a == cid and b in ok_in:
                ok_lat.append(ts - ok_in.pop(b))
                del a_of_b[b]
                break
def row(kind, v):
    v = sorted(v); n = len(v)
    if n == 0:
        return "%s\t0\t-\t-\t-\t-\t-" % kind
    q = lambda p: v[min(n - 1, int(p * n))]
    return "%s\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f" % (kind, n, q(0.5), q(0.9), q(0.99), v[-1], sum(v) / n)
rows = ["kind\tn\tp50_us\tp90_us\tp99_us\tmax_us\tmean_us",
        row("INVITE in -> INVITE out (to UAS)", inv_lat),
        row("INVITE in -> 100 Trying out", trying),
        row("200 in (from UAS) -> 200 out (to UAC)", ok_lat)]
with open(out, "w") as fh:
    fh.write("\n".join(rows) + "\n")
with open(out + ".invite.raw", "w") as fh:
    fh.write("\n".join("%.1f" % x for x in inv_lat) + "\n")
print("\n".join(rows))
print("# packets parsed: %d, inbound INVITEs: %d" % (seen, len(inv_in)))
`;

interface LatencyRow {
  kind: string;
  n: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
  mean: number | null;
}

interface LatencyResult {
  method: string;
  step: StepResult;
  packets: LatencyRow[] | null;
  sippRtt: { n: number; p50: number; p99: number; max: number } | null;
  note?: string;
}

function rttPercentiles(file: string): LatencyResult['sippRtt'] {
  if (!existsSync(file)) return null;
  const v = readFileSync(file, 'utf8')
    .split('\n')
    .slice(1)
    .map((l) => l.split(';'))
    .filter((f) => f[2]?.trim() === '1')
    .map((f) => Number(f[1]))
    .filter((x) => !Number.isNaN(x))
    .sort((a, b) => a - b);
  if (!v.length) return null;
  return { n: v.length, p50: percentile(v, 50), p99: percentile(v, 99), max: v.at(-1)! };
}

async function latency(serverPid: number, outDir: string): Promise<LatencyResult> {
  const canSniff = process.getuid?.() === 0 && !spawnSync('python3', ['-c', 'import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()']).status;
  let sniffer: ChildProcess | undefined;
  let snifferOut = '';
  const tsv = path.join(outDir, 'lat.sniff.tsv');
  if (canSniff) {
    const script = path.join(outDir, 'sniff.py');
    writeFileSync(script, SNIFFER);
    sniffer = track(spawn('python3', [script, String(LAT_S + 6), String(SIP_PORT), String(UAS_PORT), tsv], { cwd: outDir, stdio: ['ignore', 'pipe', 'pipe'] }));
    sniffer.stdout!.on('data', (d: Buffer) => (snifferOut += d.toString()));
    sniffer.stderr!.on('data', (d: Buffer) => (snifferOut += d.toString()));
    const deadline = Date.now() + 5000;
    while (!snifferOut.includes('ready') && Date.now() < deadline && sniffer.exitCode === null) await sleep(50);
  }
  const step = await callStep(LAT_RATE, serverPid, outDir, 'lat', LAT_RATE * LAT_S, ['-trace_rtt', '-rtt_freq', '100']);
  if (sniffer) await bounded(sniffer, 20_000);
  writeFileSync(path.join(outDir, 'lat.sniff.log'), snifferOut);
  const rtt = readdirSync(outDir).find((f) => /^bench_uac_\d+_rtt\.csv$/.test(f));
  const sippRtt = rtt ? rttPercentiles(path.join(outDir, rtt)) : null;
  let packets: LatencyRow[] | null = null;
  if (existsSync(tsv)) {
    packets = readFileSync(tsv, 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => {
        const [kind, n, ...q] = l.split('\t');
        const [p50, p90, p99, max, mean] = q.map((x) => (x === '-' ? null : Number(x)));
        return { kind: kind!, n: Number(n), p50: p50 ?? null, p90: p90 ?? null, p99: p99 ?? null, max: max ?? null, mean: mean ?? null };
      });
  }
  return {
    method: packets
      ? 'loopback packet timestamps (AF_PACKET + SO_TIMESTAMPNS), INVITE legs paired by the unique From user'
      : 'sipp -trace_rtt INVITE->200 (1 ms resolution): an upper bound only, it includes the UAS and the 180/200 relay',
    step,
    packets,
    sippRtt,
    ...(canSniff ? {} : { note: 'no packet capture here (needs root and AF_PACKET); no tcpdump/tshark installed' }),
  };
}

// ------------------------------------------------------------------ 3. memory per held call

interface MemSample {
  at: string;
  rssKb: number;
  pssKb: number;
  workersPssKb: number;
  /** `process.memoryUsage()` of the switch right after two forced full GCs (KB), when the inspector answered. */
  afterGc: Record<string, number> | null;
  /** Smallest `nodejs_heap_size_used_bytes` of a few /metrics readings (KB): the fallback without forced GC. */
  heapUsedMinKb: number | null;
  /** The switch's sip_server_transactions gauge; it is only updated when a request arrives, so stale once traffic stops. */
  serverTransactions: number | null;
  uacInFlight: number;
  uasInFlight: number;
}

interface MemResult {
  setupRate: number;
  holdMs: number;
  target: number;
  held: number;
  ok: number;
  failed: number;
  failedUas: number;
  retrans: number;
  retransUas: number;
  before: MemSample;
  afterSetup: MemSample;
  steady: MemSample;
  kbPerCall: { rss: number | null; pss: number | null; heapAfterGc: number | null; rssAfterGc: number | null; heapMin: number | null; rssWithTransactions: number | null };
}

async function memSample(pid: number, inspectPort: number, at: string, uacStf?: string, uasStf?: string): Promise<MemSample> {
  let heap: number | null = null;
  let tx: number | null = null;
  for (let i = 0; i < 4; i++) {
    const m = await metrics(HTTP_PORT);
    if (m.nodejs_heap_size_used_bytes !== undefined) heap = Math.min(heap ?? Infinity, Math.round(m.nodejs_heap_size_used_bytes / 1024));
    if (m.sip_server_transactions !== undefined) tx = m.sip_server_transactions;
    await sleep(250);
  }
  const afterGc = await gcAndMemoryUsage(inspectPort);
  await sleep(300);
  return {
    at,
    rssKb: statusKb(pid, 'VmRSS'),
    pssKb: pssKb(pid),
    workersPssKb: childrenOf(pid).reduce((s, k) => s + pssKb(k), 0),
    afterGc,
    heapUsedMinKb: heap,
    serverTransactions: tx,
    uacInFlight: uacStf ? num(sippStats(uacStf).last.CurrentCall) : 0,
    uasInFlight: uasStf ? num(sippStats(uasStf).last.CurrentCall) : 0,
  };
}

async function heldCalls(serverPid: number, inspectPort: number, outDir: string, setupRate: number): Promise<MemResult> {
  const n = HELD_CALLS;
  const setupS = Math.ceil(n / setupRate);
  // Every call is still up when the last one has been set up for TX_LINGER_S + 4 s (its transactions gone).
  const holdMs = (setupS + TX_LINGER_S + 10) * 1000;
  const timeoutS = setupS + holdMs / 1000 + 30;
  const before = await memSample(serverPid, inspectPort, 'before (warm, idle, transactions expired)');
  const uas = await startUas(outDir, 'held', n, timeoutS + 10);
  const started = Date.now();
  const uac = startUac(outDir, 'held', { rate: setupRate, calls: n, holdMs, limit: n + 1000, timeoutS });
  await sleep((setupS + 3) * 1000);
  const afterSetup = await memSample(serverPid, inspectPort, 'set-up done + 3 s (INVITE transactions kept)', uac.stf, uas.stf);
  const steadyAt = started + (setupS + TX_LINGER_S + 2) * 1000;
  await sleep(Math.max(0, steadyAt - Date.now()));
  const steady = await memSample(serverPid, inspectPort, `set-up done + ${TX_LINGER_S + 2} s (transactions expired)`, uac.stf, uas.stf);
  console.log(`# held calls: sampled; waiting for the ${n} BYEs`);
  await bounded(uac.child, (timeoutS + 20) * 1000);
  uac.cpu();
  await finishUas(uas, 20);
  const u = sippStats(uac.stf).last;
  const s = sippStats(uas.stf).last;
  const held = Math.min(steady.uacInFlight, steady.uasInFlight) || steady.uacInFlight;
  const heldSetup = Math.min(afterSetup.uacInFlight, afterSetup.uasInFlight) || afterSetup.uacInFlight;
  const per = (a: number | null | undefined, b: number | null | undefined, calls = held) =>
    a == null || b == null || calls <= 0 ? null : Math.round(((a - b) / calls) * 100) / 100;
  return {
    setupRate,
    holdMs,
    target: n,
    held,
    ok: num(u['SuccessfulCall(C)']),
    failed: num(u['FailedCall(C)']),
    failedUas: num(s['FailedCall(C)']),
    retrans: num(u['Retransmissions(C)']),
    retransUas: num(s['Retransmissions(C)']),
    before,
    afterSetup,
    steady,
    kbPerCall: {
      rss: per(steady.rssKb, before.rssKb),
      pss: per(steady.pssKb + steady.workersPssKb, before.pssKb + before.workersPssKb),
      heapAfterGc: per(steady.afterGc?.heapUsed, before.afterGc?.heapUsed),
      rssAfterGc: per(steady.afterGc?.rss, before.afterGc?.rss),
      heapMin: per(steady.heapUsedMinKb, before.heapUsedMinKb),
      rssWithTransactions: per(afterSetup.rssKb, before.rssKb, heldSetup),
    },
  };
}

// ------------------------------------------------------------------ the bench

const mb = (kb: number | null | undefined) => (kb == null ? '?' : (kb / 1024).toFixed(1));

export async function callsBench(): Promise<void> {
  const sippVersion = requireSipp('calls');
  for (const p of [SIP_PORT, UAC_PORT, UAS_PORT, HTTP_PORT, INSPECT_PORT]) if (udpPortBound(p)) throw new Error(`UDP port ${p} is already in use on this machine`);
  const benchStart = Date.now();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const outDir = path.join(ROOT, 'bench-results', `calls-${stamp}`);
  mkdirSync(outDir, { recursive: true });
  const cores = os.cpus().length;
  console.log(`\n# calls bench: sipp ${sippVersion}, node ${process.version}, ${cores} cores (${os.cpus()[0]?.model}), ${os.release()}; load average ${loadavg()}`);
  console.log(`# raw sipp files and switch logs in ${path.relative(ROOT, outDir)}`);
  console.log(
    `# switch environment for the bench: ${Object.entries(LIMITS)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')} (rest default); sqlite`,
  );
  console.log(`# every call: UAC From caller<N> (not an account) -> sip:${ACCOUNT}@127.0.0.1:${SIP_PORT} -> account's dialplanIn 'in5':`);
  console.log(DIALPLAN.trimEnd().replace(/^/gm, '#   '));
  console.log('# as run.sh restarts kamailio per section, each section (and the ladder after an unclean step) gets a fresh switch');

  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'sipswitch-calls-bench-'));
  const databaseUrl = `sqlite://${path.join(dataDir, 'switch.sqlite')}`;
  let server: RunningServer | undefined;
  const steps: StepResult[] = [];
  const warmUps: StepResult[] = [];
  let lat: LatencyResult | undefined;
  let mem: MemResult | undefined;
  const errors: string[] = [];
  /** Steps of the same calls with call-state persistence off. */
  const persistOff: StepResult[] = [];
  /** Steps of the same calls under each media mode; the ladder's own mode is the ladder. */
  const byMedia: Partial<Record<MediaMode, StepResult[]>> = {};

  /** A fresh switch (the previous one stopped), warmed up with a few hundred calls so JIT and isolates are ready. */
  const fresh = async (section: string, inspectPort?: number, env: Record<string, string> = { MEDIA_ENGINE: LADDER_MEDIA }): Promise<number> => {
    await server?.stop();
    server = undefined;
    server = await startServer({ ...switchEnv({ sipPort: SIP_PORT, httpPort: HTTP_PORT, dataDir, databaseUrl }), ...LIMITS, ...env }, path.join(outDir, `switch.${section}.log`), {
      inspectPort,
      append: true,
    });
    const pid = server.pid;
    const idle = Math.round(statusKb(pid, 'VmRSS') / 1024);
    const w = await callStep(WARMUP_RATE, pid, outDir, `warmup.${section}`, WARMUP_CALLS);
    warmUps.push(w);
    console.log(
      `# fresh switch for ${section}: pid ${pid}, idle RSS ${idle} MB, ${childrenOf(pid).length} dialplan workers; warm-up ${w.ok}/${WARMUP_CALLS} calls at ${WARMUP_RATE}/s ok` +
        (w.failed || w.failedUas ? `, ${w.failed} failed (UAS ${w.failedUas})` : ''),
    );
    await settle(pid);
    return pid;
  };

  try {
    await seed(databaseUrl);

    // ---- 1. ladder
    console.log(`\n## 1. calls/s: sipp UAC -> switch (dialplan per call) -> sipp UAS, 0 hold, ${STEP_S} s steps`);
    let pid = await fresh('ladder', undefined, { MEDIA_ENGINE: LADDER_MEDIA });
    TABLE.header();
    const ladderStart = Date.now();
    let unclean = 0;
    for (const rate of RATES) {
      if (Date.now() - ladderStart > LADDER_BUDGET_MS) {
        console.log(`# time budget of ${LADDER_BUDGET_MS / 60_000} min spent: not trying ${rate}/s and above`);
        break;
      }
      const s = await callStep(rate, pid, outDir, `calls.r${rate}`);
      steps.push(s);
      TABLE.row(s);
      if (s.clean) {
        unclean = 0;
        await sleep(1000);
        continue;
      }
      // As run.sh: stop after a step with failed calls, or after two unclean steps in a row.
      if (s.failed !== 0 || s.failedUas !== 0 || s.ok === 0 || ++unclean >= 2) break;
      pid = await fresh(`ladder-after-r${rate}`);
    }

    // ---- 2. latency
    console.log(`\n## 2. switch's INVITE received -> outbound INVITE sent, at ${LAT_RATE} calls/s for ${LAT_S} s`);
    pid = await fresh('latency');
    lat = await latency(pid, outDir);
    TABLE.header();
    TABLE.row(lat.step);
    console.log(`# method: ${lat.method}${lat.note ? `; ${lat.note}` : ''}`);
    if (lat.packets)
      for (const r of lat.packets)
        console.log(`  ${r.kind.padEnd(40)} n=${r.n}  p50 ${r.p50 ?? '-'} us  p90 ${r.p90 ?? '-'} us  p99 ${r.p99 ?? '-'} us  max ${r.max ?? '-'} us  mean ${r.mean ?? '-'} us`);
    if (lat.sippRtt)
      console.log(
        `  sipp INVITE->200 at the UAC (1 ms resolution, whole path incl. UAS): n=${lat.sippRtt.n} p50 ${lat.sippRtt.p50} ms, p99 ${lat.sippRtt.p99} ms, max ${lat.sippRtt.max} ms`,
      );

    // ---- 2b. the cost of persisting live calls (what restarts resume from)
    const bestOn = steps.filter((s) => s.clean).sort((a, b) => b.target - a.target)[0];
    /** The ladder's best clean rate and the two above it, on a fresh switch with `env`, until a step is unclean. */
    const aroundBest = async (section: string, env: Record<string, string>): Promise<StepResult[]> => {
      if (!bestOn) return [];
      pid = await fresh(section, undefined, env);
      TABLE.header();
      const out: StepResult[] = [];
      for (const rate of [bestOn.target, bestOn.target + 100, bestOn.target + 200]) {
        const s = await callStep(rate, pid, outDir, `${section}.r${rate}`);
        out.push(s);
        TABLE.row(s);
        if (!s.clean) break;
        await sleep(1000);
      }
      return out;
    };
    if (bestOn) {
      console.log(`\n## 2b. without call-state persistence (CALL_STATE_PERSISTENCE=false): the ladder's best clean rate and above`);
      persistOff.push(...(await aroundBest('no-persistence', { MEDIA_ENGINE: LADDER_MEDIA, CALL_STATE_PERSISTENCE: 'false' })));
    }

    // ---- 2c. the media relay's cost to call set-up: the same calls under each other media mode
    for (const mode of MEDIA_MODES.filter((m) => m !== LADDER_MEDIA && (m !== 'rtpengine' || RTPENGINE_HERE))) {
      if (!bestOn) break;
      console.log(`\n## 2c. media ${mode} (MEDIA_ENGINE=${mode}): the ladder's best clean rate and above`);
      byMedia[mode] = await aroundBest(`media-${mode}`, { MEDIA_ENGINE: mode });
    }

    // ---- 3. memory
    const best = steps.filter((s) => s.clean).sort((a, b) => b.target - a.target)[0];
    // Set up comfortably below the knee (2/3 of the best clean rate), within 200..500/s.
    const setupRate = Number(process.env.HELD_RATE ?? Math.max(200, Math.min(500, Math.floor(((best?.target ?? 300) * 2) / 3 / 50) * 50)));
    console.log(`\n## 3. memory per held call: ${HELD_CALLS} calls set up at ${setupRate}/s and held`);
    pid = await fresh('memory', INSPECT_PORT);
    console.log(`# waiting ${TX_LINGER_S + 2} s for the warm-up's transactions to expire before the baseline`);
    await sleep((TX_LINGER_S + 2) * 1000);
    mem = await heldCalls(pid, INSPECT_PORT, outDir, setupRate);
    console.log(
      `calls ok ${mem.ok} / ${mem.target}, failed ${mem.failed} (UAS ${mem.failedUas}), retrans ${mem.retrans} (UAS ${mem.retransUas}); each held ${mem.holdMs / 1000} s; load average ${loadavg()}`,
    );
    for (const m of [mem.before, mem.afterSetup, mem.steady]) {
      console.log(
        `  ${m.at.padEnd(46)} held (UAC/UAS) ${String(m.uacInFlight).padStart(5)}/${String(m.uasInFlight).padStart(5)}  RSS ${mb(m.rssKb)} MB  PSS ${mb(m.pssKb)} MB  ` +
          `workers PSS ${mb(m.workersPssKb)} MB  after forced GC: heap used ${mb(m.afterGc?.heapUsed)} MB, external ${mb(m.afterGc?.external)} MB, RSS ${mb(m.afterGc?.rss)} MB`,
      );
    }
    const k = mem.kbPerCall;
    console.log(
      `=> per held call (${mem.held} held, transactions expired): V8 heap after GC ${k.heapAfterGc ?? '?'} KB, RSS ${k.rss ?? '?'} KB (after GC ${k.rssAfterGc ?? '?'} KB), ` +
        `PSS main + workers ${k.pss ?? '?'} KB; RSS with the set-up's transactions still kept ${k.rssWithTransactions ?? '?'} KB`,
    );
  } catch (err) {
    errors.push((err as Error).stack ?? String(err));
    throw err;
  } finally {
    await server?.stop();
    killAll();
    rmSync(dataDir, { recursive: true, force: true });

    const bestClean = steps.filter((s) => s.clean).sort((a, b) => b.achieved - a.achieved)[0];
    const invite = lat?.packets?.find((r) => r.kind.startsWith('INVITE in -> INVITE out'));
    console.log(`\n================ SUMMARY calls bench (sipp ${sippVersion}; ${cores} cores shared by sipp and the switch; load average now ${loadavg()}) ================`);
    console.log(
      `calls/s with a 5-line dialplan per call, highest clean rate: ${bestClean ? `${bestClean.target}/s (achieved ${bestClean.achieved}/s, switch CPU ${bestClean.switchCpu}% of one core incl. dialplan workers ${bestClean.workersCpu}%, avg INVITE->200 ${bestClean.rt1AvgMs?.toFixed(2)} ms, load1 ${bestClean.load1})` : 'none'}   [aim 500/s]`,
    );
    if (lat)
      console.log(
        invite?.p99 != null
          ? `switch INVITE in -> outbound INVITE out at ${LAT_RATE}/s: p50 ${invite.p50} us, p99 ${invite.p99} us, max ${invite.max} us (n=${invite.n}, packet timestamps)`
          : `switch INVITE in -> outbound INVITE out at ${LAT_RATE}/s: not measured precisely here; upper bound sipp INVITE->200 p99 ${lat.sippRtt?.p99 ?? '?'} ms`,
      );
    const bestOff = persistOff.filter((s) => s.clean).sort((a, b) => b.achieved - a.achieved)[0];
    const sameRateOff = bestClean && persistOff.find((s) => s.target === bestClean.target);
    if (bestClean && sameRateOff) {
      const cpuPerCall = (st: StepResult) => (((st.switchCpu / 100) * 1000) / st.achieved).toFixed(2);
      console.log(
        `persistence of live calls: highest clean rate with ${bestClean.target}/s, without ${bestOff ? `${bestOff.target}/s` : 'none'}; ` +
          `at ${bestClean.target}/s switch CPU per call ${cpuPerCall(bestClean)} ms with, ${cpuPerCall(sameRateOff)} ms without`,
      );
    }
    if (bestClean) {
      const rateOf = (mode: MediaMode) => (mode === LADDER_MEDIA ? bestClean : (byMedia[mode] ?? []).filter((s) => s.clean).sort((a, b) => b.achieved - a.achieved)[0]);
      const direct = rateOf('direct');
      const figures = MEDIA_MODES.map((m) => {
        const best = rateOf(m);
        if (!best) return `${m} ${byMedia[m] || m === LADDER_MEDIA ? 'none clean' : 'not run'}`;
        const ratio = direct && m !== 'direct' ? ` (${Math.round((best.target / direct.target) * 100)}% of direct)` : '';
        return `${m} ${best.target}/s${ratio}`;
      });
      console.log(`call set-up rate by media mode (from the ladder's best clean rate, in steps of 100): ${figures.join(', ')}   [aim: a relay within 20% of direct]`);
      // CPU per call at one rate moves less with the machine's load than the highest clean rate does.
      const atRate = (mode: MediaMode) => (mode === LADDER_MEDIA ? bestClean : byMedia[mode]?.find((s) => s.target === bestClean.target));
      const cpu = MEDIA_MODES.flatMap((m) => {
        const st = atRate(m);
        return st ? [`${m} ${(((st.switchCpu / 100) * 1000) / st.achieved).toFixed(2)} ms${st.clean ? '' : ' (unclean step)'}`] : [];
      });
      console.log(`switch CPU per call (rtpengine's daemon included) at ${bestClean.target}/s by media mode: ${cpu.join(', ')}`);
    }
    if (mem)
      console.log(
        `memory per held call (${mem.held} of ${mem.target} held): ${mem.kbPerCall.heapAfterGc ?? '?'} KB V8 heap after GC, ${mem.kbPerCall.rss ?? '?'} KB RSS   [aim < 20 KB]`,
      );
    console.log('(clean = all -m calls done, 0 failed calls and 0 retransmissions on UAC and UAS, >= 95% of the target rate, at most');
    console.log(' max(50, rate/20) calls in flight at any 1 s sample; same scenarios, flags and rule as ../shared/anchors/kamailio/run.sh)');
    console.log(`# bench took ${Math.round((Date.now() - benchStart) / 1000)} s`);

    const summary = {
      bench: 'calls',
      at: new Date().toISOString(),
      sipp: sippVersion,
      node: process.version,
      cores,
      cpuModel: os.cpus()[0]?.model,
      loadavgEnd: os.loadavg(),
      stepSeconds: STEP_S,
      env: LIMITS,
      dialplan: DIALPLAN,
      warmUps,
      steps,
      bestClean,
      withoutPersistence: persistOff,
      ladderMedia: LADDER_MEDIA,
      byMedia,
      latency: lat,
      memory: mem,
      errors,
    };
    writeFileSync(path.join(outDir, 'results.json'), JSON.stringify(summary, null, 2) + '\n');
    const tsv = [COLUMNS.map(([n]) => n).join('\t'), ...steps.map((s) => COLUMNS.map(([, get]) => get(s)).join('\t'))];
    writeFileSync(path.join(outDir, 'results.tsv'), tsv.join('\n') + '\n');
    console.log(`# results: ${path.relative(ROOT, path.join(outDir, 'results.json'))}`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await callsBench();
}
