/**
 * Registrations per second with digest auth, measured the way the Kamailio reference was
 * (../shared/anchors/kamailio/run.sh, section "registrations"): the same sipp scenario
 * (test/fixtures/sipp/reg_auth.xml), the same flags, 10 000 users `userN`/`pwN` cycled
 * sequentially, 10 s rate steps and the same "clean" rule. The switch runs as `npm start` runs it,
 * in its own process, so its CPU can be read from /proc.
 *
 *   tsx bench/register.ts [--mysql]      (or `npm run bench`)
 *
 * Knobs: REG_RATES (the ladder, per second), STEP_S [10], USERS [10000], MYSQL_URL, PROFILE_DIR.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, type WriteStream, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import mysql from 'mysql2/promise';
import { computeHa1 } from '../server/sip/digest.ts';
import { Store } from '../server/store/index.ts';
import { TenantSipAccounts } from '../server/store/sipAccounts.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCENARIO = path.join(ROOT, 'test/fixtures/sipp/reg_auth.xml');
const RATES = (process.env.REG_RATES ?? '250 500 750 1000 1500 2000 3000 4000 6000 8000 10000 12000 14000')
  .split(/\s+/)
  .filter(Boolean)
  .map(Number);
const STEP_S = Number(process.env.STEP_S ?? 10);
const WARMUP_RATE = 500;
const USERS = Number(process.env.USERS ?? 10_000);
const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
// Ports as in run.sh (5060 switch, 5070 sipp) shifted out of the way of a switch already running here.
const SIP_PORT = 25060;
const HTTP_PORT = 28080;
const SIPP_PORT = 25070;
/** A ladder stops starting new steps after this long, so the whole bench stays well under 10 minutes. */
const LADDER_BUDGET_MS = 4 * 60_000;
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

export interface StepResult {
  target: number;
  achieved: number;
  calls: number;
  ok: number;
  failed: number;
  retrans: number;
  switchCpu: number;
  rt1AvgMs: number | null;
  peakInFlight: number;
  udpDrops: number;
  stealPct: number;
  switchRssMb: number;
  sippExit: number | null;
  clean: boolean;
}

export interface LadderResult {
  database: 'sqlite' | 'mysql';
  cores: number;
  cpuModel: string;
  bestClean: StepResult | undefined;
  steps: StepResult[];
  warmUp: StepResult | undefined;
  bindingsHeld: number | undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ /proc readings

/** utime+stime (clock ticks) of a process and all its descendants; 0 once it is gone. */
function treeTicks(pid: number): number {
  let total = 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    total += Number(f[11]) + Number(f[12]);
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const kids = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      for (const kid of kids ? kids.split(' ') : []) total += treeTicks(Number(kid));
    }
  } catch {
    /* the process (or a child) exited while being read */
  }
  return total;
}

function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

/** UDP receive-buffer overflows, system-wide: datagrams the kernel dropped before anyone read them. */
function udpDrops(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'));
  return Number(lines[1]?.split(/\s+/)[5] ?? 0);
}

function stealTicks(): number {
  return Number(readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/)[8] ?? 0);
}

// ------------------------------------------------------------------ sipp output

function sippStats(file: string): { last: Record<string, string>; peakInFlight: number } {
  if (!existsSync(file)) return { last: {}, peakInFlight: 0 };
  const rows = readFileSync(file, 'latin1').split('\n').filter((l) => l.trim()).map((l) => l.split(';'));
  const header = rows[0] ?? [];
  const current = header.indexOf('CurrentCall');
  const peakInFlight = Math.max(0, ...rows.slice(1).map((r) => Number(r[current] ?? 0)));
  const lastRow = rows.length > 1 ? rows.at(-1)! : [];
  return { last: Object.fromEntries(header.map((h, i) => [h, lastRow[i] ?? ''])), peakInFlight };
}

/** sipp's "hh:mm:ss:uuuuuu" as milliseconds. */
function sippMs(v: string | undefined): number | null {
  const p = v?.split(':').map(Number);
  if (!p || p.length !== 4 || p.some(Number.isNaN)) return null;
  return (p[0]! * 3600 + p[1]! * 60 + p[2]!) * 1000 + p[3]! / 1000;
}

// ------------------------------------------------------------------ processes

/** Resolves with the exit code; SIGTERM after `ms`, SIGKILL 5 s later (as `timeout -k 5`). */
function bounded(child: ChildProcess, ms: number): Promise<number | null> {
  return new Promise((resolve) => {
    let kill: NodeJS.Timeout | undefined;
    const term = setTimeout(() => {
      child.kill('SIGTERM');
      kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    }, ms);
    const done = (code: number | null) => {
      clearTimeout(term);
      clearTimeout(kill);
      resolve(code);
    };
    if (child.exitCode !== null || child.signalCode !== null) done(child.exitCode);
    else child.once('exit', done);
  });
}

/** Both output streams into one file, closed once the child and its pipes are done. */
function teeInto(child: ChildProcess, file: WriteStream): void {
  child.stdout!.pipe(file, { end: false });
  child.stderr!.pipe(file, { end: false });
  child.once('close', () => file.end());
}

interface RunningServer {
  pid: number;
  stop(): Promise<void>;
}

/** Starts the switch as `npm start` does and waits until /readyz answers. */
async function startServer(env: Record<string, string>, logFile: string): Promise<RunningServer> {
  const log = createWriteStream(logFile);
  // PROFILE_DIR=dir writes a V8 CPU profile of the switch there (open it in Chrome DevTools).
  const profile = process.env.PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.PROFILE_DIR)}`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', 'server/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  teeInto(child, log);
  // Should this bench die (an exception, Ctrl-C), the switch must not outlive it.
  const orphanGuard = () => child.kill('SIGKILL');
  process.once('exit', orphanGuard);
  const stop = async () => {
    child.kill('SIGTERM');
    await bounded(child, 15_000);
    process.off('exit', orphanGuard);
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`the switch exited with ${child.exitCode} while starting; see ${logFile}:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
    }
    try {
      if ((await fetch(`http://127.0.0.1:${HTTP_PORT}/readyz`)).ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the switch was not ready within 30 s; see ${logFile}`);
    }
    await sleep(200);
  }
  return { pid: child.pid!, stop };
}

async function metric(name: string): Promise<number | undefined> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${HTTP_PORT}/metrics`)).text();
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** After an overloaded step: wait (at most `ms`) until the switch is idle again, so leftovers do not hit the next step. */
async function drain(pid: number, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const t0 = treeTicks(pid);
    await sleep(1000);
    if ((treeTicks(pid) - t0) / CLK_TCK < 0.05) return;
  }
  console.log(`# note: the switch was still busy after ${ms / 1000} s`);
}

// ------------------------------------------------------------------ data

/** The anchor's users.csv: user1..userN with passwords pw1..pwN, sequential. */
function writeUsersCsv(file: string): void {
  const lines = ['SEQUENTIAL'];
  for (let i = 1; i <= USERS; i++) lines.push(`user${i};pw${i};[authentication username=user${i} password=pw${i}]`);
  writeFileSync(file, lines.join('\n') + '\n');
}

/**
 * One tenant with USERS accounts, written straight through the store: the API would spend most
 * of the set-up time in its password-strength check, and `pwN` would not pass it anyway.
 */
async function seed(databaseUrl: string): Promise<void> {
  const store = await Store.open(databaseUrl);
  try {
    const owner = await store.directory.createTenantWithOwner(`bench-${randomBytes(4).toString('hex')}@example.com`, 'bench-owner-cannot-log-in');
    const realm = '127.0.0.1';
    for (let first = 1; first <= USERS; first += 500) {
      await store.kysely.transaction().execute(async (trx) => {
        const accounts = new TenantSipAccounts(trx, owner.tenantId);
        for (let i = first; i < first + 500 && i <= USERS; i++) {
          const username = `user${i}`;
          await accounts.create({
            username,
            displayName: null,
            realm,
            ha1Md5: computeHa1('MD5', username, realm, `pw${i}`),
            ha1Sha256: computeHa1('SHA-256', username, realm, `pw${i}`),
            digestAlgorithms: null,
          });
        }
      });
    }
  } finally {
    await store.close();
  }
}

// ------------------------------------------------------------------ the ladder

async function step(rate: number, serverPid: number, usersCsv: string, outDir: string, calls = rate * STEP_S, tag = `reg.r${rate}`): Promise<StepResult> {
  const timeoutS = Math.ceil(calls / rate) + 30;
  const stf = path.join(outDir, `${tag}.csv`);
  const args = [
    `127.0.0.1:${SIP_PORT}`, '-sf', SCENARIO, '-inf', usersCsv, '-i', '127.0.0.1', '-p', String(SIPP_PORT), '-t', 'u1',
    '-r', String(rate), '-m', String(calls), '-d', '0', '-timeout', `${timeoutS}s`, '-nostdin',
    '-buff_size', '4194304', '-max_recv_loops', '10000', '-trace_stat', '-fd', '1', '-stf', stf,
    '-trace_err', '-error_file', path.join(outDir, `${tag}.err`),
  ];
  const ticks0 = treeTicks(serverPid);
  const drops0 = udpDrops();
  const steal0 = stealTicks();
  const started = process.hrtime.bigint();
  const sipp = spawn('sipp', args, { cwd: outDir, stdio: ['ignore', 'pipe', 'pipe'] });
  teeInto(sipp, createWriteStream(path.join(outDir, `${tag}.log`)));
  const sippExit = await bounded(sipp, (timeoutS + 20) * 1000);
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const cpuTicks = treeTicks(serverPid) - ticks0;
  const drops = udpDrops() - drops0;
  const steal = stealTicks() - steal0;

  const { last, peakInFlight } = sippStats(stf);
  const ok = Number(last['SuccessfulCall(C)'] ?? 0);
  const failed = Number(last['FailedCall(C)'] ?? 0);
  const retrans = Number(last['Retransmissions(C)'] ?? 0);
  const achieved = Math.round(ok / wall);
  const clean =
    failed === 0 && retrans === 0 && ok === calls && achieved >= 0.95 * rate && peakInFlight <= Math.max(50, rate / 20);
  return {
    target: rate,
    achieved,
    calls,
    ok,
    failed,
    retrans,
    switchCpu: Math.round((100 * cpuTicks) / CLK_TCK / wall),
    rt1AvgMs: sippMs(last['ResponseTime1(C)']),
    peakInFlight,
    udpDrops: drops,
    stealPct: Math.round((1000 * steal) / CLK_TCK / wall / os.cpus().length) / 10,
    switchRssMb: Math.round(rssMb(serverPid)),
    sippExit,
    clean,
  };
}

const COLUMNS: Array<[string, (s: StepResult) => string | number]> = [
  ['target/s', (s) => s.target],
  ['achieved/s', (s) => s.achieved],
  ['calls', (s) => s.calls],
  ['ok', (s) => s.ok],
  ['failed', (s) => s.failed],
  ['retrans', (s) => s.retrans],
  ['switch_cpu%', (s) => s.switchCpu],
  ['rt1_avg_ms', (s) => (s.rt1AvgMs === null ? '-' : s.rt1AvgMs.toFixed(3))],
  ['peak_inflight', (s) => s.peakInFlight],
  ['udp_drops', (s) => s.udpDrops],
  ['steal%', (s) => s.stealPct],
  ['switch_rss_MB', (s) => s.switchRssMb],
  ['clean', (s) => (s.clean ? 'yes' : 'no')],
];

function printRow(cells: Array<string | number>): void {
  console.log(cells.map((c, i) => String(c).padStart(Math.max(COLUMNS[i]![0].length, 6))).join('  '));
}

async function ladder(database: 'sqlite' | 'mysql', outDir: string): Promise<LadderResult> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'sipswitch-bench-'));
  let mysqlDb: string | undefined;
  let server: RunningServer | undefined;
  const steps: StepResult[] = [];
  let warmUp: StepResult | undefined;
  let bindingsHeld: number | undefined;
  try {
    let databaseUrl = `sqlite://${path.join(dataDir, 'switch.sqlite')}`;
    if (database === 'mysql') {
      mysqlDb = `sw_bench_${randomBytes(6).toString('hex')}`;
      const admin = await mysql.createConnection({ uri: MYSQL_URL });
      await admin.query(`CREATE DATABASE \`${mysqlDb}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
      await admin.end();
      const u = new URL(MYSQL_URL);
      u.pathname = `/${mysqlDb}`;
      databaseUrl = u.toString();
    }
    const usersCsv = path.join(outDir, 'users.csv');
    writeUsersCsv(usersCsv);
    const t0 = Date.now();
    await seed(databaseUrl);
    console.log(`# ${database}: ${USERS} accounts created in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    server = await startServer(
      {
        SIP_HOST: '127.0.0.1',
        SIP_PORT: String(SIP_PORT),
        SIP_DOMAIN: '127.0.0.1',
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: String(HTTP_PORT),
        DATA_DIR: dataDir,
        DATABASE_URL: databaseUrl,
        LOG_LEVEL: 'warn',
        LOG_PRETTY: 'false',
      },
      path.join(outDir, `switch.${database}.log`),
    );
    console.log(`# switch started: pid ${server.pid}, SIP 127.0.0.1:${SIP_PORT}, ${database}, idle RSS ${Math.round(rssMb(server.pid))} MB`);
    console.log(`\n## REGISTER with digest auth (401 + authenticated REGISTER = 1 registration), ${USERS} users, ${database}`);
    printRow(COLUMNS.map(([name]) => name));
    // As run.sh's prereg: every user registered once, so each rung refreshes existing bindings
    // (what a registrar mostly does) and JIT warm-up does not land on the first rung.
    const warm = await step(WARMUP_RATE, server.pid, usersCsv, outDir, USERS, 'warmup');
    warmUp = warm;
    printRow(COLUMNS.map(([, get]) => get(warm)));
    console.log(`# ^ warm-up: ${USERS} users registered once at ${WARMUP_RATE}/s; not part of the ladder`);
    await drain(server.pid);

    const ladderStart = Date.now();
    let unclean = 0;
    for (const rate of RATES) {
      if (Date.now() - ladderStart > LADDER_BUDGET_MS) {
        console.log(`# time budget of ${LADDER_BUDGET_MS / 60_000} min spent: not trying ${rate}/s and above`);
        break;
      }
      const s = await step(rate, server.pid, usersCsv, outDir);
      steps.push(s);
      printRow(COLUMNS.map(([, get]) => get(s)));
      if (s.clean) {
        unclean = 0;
        await sleep(1000);
        continue;
      }
      // As run.sh: stop after a step with failed calls, or after two unclean steps in a row.
      await drain(server.pid);
      if (s.failed !== 0 || s.ok === 0 || ++unclean >= 2) break;
    }
    await drain(server.pid);
    bindingsHeld = await metric('sip_registrations_active');
  } finally {
    await server?.stop();
    if (mysqlDb) {
      const admin = await mysql.createConnection({ uri: MYSQL_URL });
      await admin.query(`DROP DATABASE IF EXISTS \`${mysqlDb}\``);
      await admin.end();
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
  const bestClean = steps.filter((s) => s.clean).sort((a, b) => b.achieved - a.achieved)[0];
  return { database, cores: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '?', bestClean, steps, warmUp, bindingsHeld };
}

async function mysqlProblem(): Promise<string | undefined> {
  try {
    const c = await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 3000 });
    await c.end();
    return undefined;
  } catch (err) {
    return `MySQL not reachable at ${MYSQL_URL}: ${(err as Error).message}`;
  }
}

export async function registerBench(opts: { mysql: boolean }): Promise<LadderResult[]> {
  if (spawnSync('sipp', ['-v']).error) throw new Error("the register bench needs sipp on PATH (apt-get install sip-tester)");
  const sippVersion = /SIPp (v\S+)/.exec(spawnSync('sipp', ['-v'], { encoding: 'utf8' }).stdout)?.[1] ?? '?';
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const outDir = path.join(ROOT, 'bench-results', `register-${stamp}`);
  mkdirSync(outDir, { recursive: true });
  const cores = os.cpus().length;
  console.log(`# register bench: sipp ${sippVersion}, node ${process.version}, ${cores} cores (${os.cpus()[0]?.model}), ${os.release()}`);
  console.log(`# raw sipp files and switch logs in ${path.relative(ROOT, outDir)}`);

  const results = [await ladder('sqlite', outDir)];
  if (opts.mysql) {
    const problem = await mysqlProblem();
    if (problem) console.log(`# --mysql: skipped, ${problem}`);
    else results.push(await ladder('mysql', outDir));
  }

  console.log(`\n================ SUMMARY (sipp ${sippVersion}; ${cores} cores shared by sipp and the switch) ================`);
  for (const r of results) {
    const best = r.bestClean ? `${r.bestClean.target} reg/s (achieved ${r.bestClean.achieved}/s, switch CPU ${r.bestClean.switchCpu}% of one core)` : 'none';
    console.log(`REGISTER with digest auth, ${r.database}, highest clean rate: ${best} on ${r.cores} cores; bindings held at the end: ${r.bindingsHeld ?? '?'}`);
  }
  console.log('(clean = all -m registrations done, 0 failed, 0 retransmissions, >= 95% of the target rate, at most');
  console.log(' max(50, rate/20) in flight at any 1 s sample; same scenario, flags and rule as ../shared/anchors/kamailio/run.sh)');

  const summary = { bench: 'register', at: new Date().toISOString(), sipp: sippVersion, node: process.version, cores, stepSeconds: STEP_S, users: USERS, results };
  writeFileSync(path.join(outDir, 'results.json'), JSON.stringify(summary, null, 2) + '\n');
  const tsv = [['database', ...COLUMNS.map(([n]) => n)].join('\t')];
  for (const r of results) for (const s of r.steps) tsv.push([r.database, ...COLUMNS.map(([, get]) => get(s))].join('\t'));
  writeFileSync(path.join(outDir, 'results.tsv'), tsv.join('\n') + '\n');
  console.log(`# results: ${path.relative(ROOT, path.join(outDir, 'results.json'))}`);
  return results;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await registerBench({ mysql: process.argv.includes('--mysql') });
}
