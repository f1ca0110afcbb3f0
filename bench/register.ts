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
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import mysql from 'mysql2/promise';
import { computeHa1 } from '../server/sip/digest.ts';
import { Store } from '../server/store/index.ts';
import { TenantSipAccounts } from '../server/store/sipAccounts.ts';
import { CLK_TCK, rssMb, stealTicks, treeTicks, udpDrops } from './lib/proc.ts';
import { bounded, sleep } from './lib/processes.ts';
import { requireSipp, sippMs, sippStats, spawnSipp } from './lib/sipp.ts';
import { drain, metrics, startServer, switchEnv, type RunningServer } from './lib/switch.ts';
import { table, type Columns } from './lib/table.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCENARIO = path.join(ROOT, 'test/fixtures/sipp/reg_auth.xml');
const RATES = (process.env.REG_RATES ?? '250 500 750 1000 1500 2000 3000 4000 6000 8000 10000 12000 14000').split(/\s+/).filter(Boolean).map(Number);
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

/** After an overloaded step: wait (at most 60 s) until the switch is idle again, so leftovers do not hit the next step. */
const settle = (pid: number) => drain(pid, treeTicks, 60_000);

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
/** Accounts `user1`…`userN` with passwords `pw1`…, straight into the database (the API would take minutes). */
export async function seed(databaseUrl: string, users = USERS): Promise<void> {
  const store = await Store.open(databaseUrl);
  try {
    const owner = await store.directory.createTenantWithOwner(`bench-${randomBytes(4).toString('hex')}@example.com`, 'bench-owner-cannot-log-in');
    const realm = '127.0.0.1';
    for (let first = 1; first <= users; first += 500) {
      await store.kysely.transaction().execute(async (trx) => {
        const accounts = new TenantSipAccounts(trx, owner.tenantId);
        for (let i = first; i < first + 500 && i <= users; i++) {
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
  const args = [
    `127.0.0.1:${SIP_PORT}`,
    '-sf',
    SCENARIO,
    '-inf',
    usersCsv,
    '-i',
    '127.0.0.1',
    '-p',
    String(SIPP_PORT),
    '-t',
    'u1',
    '-r',
    String(rate),
    '-m',
    String(calls),
    '-d',
    '0',
  ];
  const ticks0 = treeTicks(serverPid);
  const drops0 = udpDrops();
  const steal0 = stealTicks();
  const started = process.hrtime.bigint();
  const sipp = spawnSipp(args, outDir, tag, timeoutS);
  const sippExit = await bounded(sipp.child, (timeoutS + 20) * 1000);
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const cpuTicks = treeTicks(serverPid) - ticks0;
  const drops = udpDrops() - drops0;
  const steal = stealTicks() - steal0;

  const { last, peakInFlight } = sippStats(sipp.stf);
  const ok = Number(last['SuccessfulCall(C)'] ?? 0);
  const failed = Number(last['FailedCall(C)'] ?? 0);
  const retrans = Number(last['Retransmissions(C)'] ?? 0);
  const achieved = Math.round(ok / wall);
  const clean = failed === 0 && retrans === 0 && ok === calls && achieved >= 0.95 * rate && peakInFlight <= Math.max(50, rate / 20);
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

const COLUMNS: Columns<StepResult> = [
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

const TABLE = table(COLUMNS, { minWidth: 6, gap: '  ' });

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

    server = await startServer(switchEnv({ sipPort: SIP_PORT, httpPort: HTTP_PORT, dataDir, databaseUrl }), path.join(outDir, `switch.${database}.log`));
    console.log(`# switch started: pid ${server.pid}, SIP 127.0.0.1:${SIP_PORT}, ${database}, idle RSS ${Math.round(rssMb(server.pid))} MB`);
    console.log(`\n## REGISTER with digest auth (401 + authenticated REGISTER = 1 registration), ${USERS} users, ${database}`);
    TABLE.header();
    // As run.sh's prereg: every user registered once, so each rung refreshes existing bindings
    // (what a registrar mostly does) and JIT warm-up does not land on the first rung.
    const warm = await step(WARMUP_RATE, server.pid, usersCsv, outDir, USERS, 'warmup');
    warmUp = warm;
    TABLE.row(warm);
    console.log(`# ^ warm-up: ${USERS} users registered once at ${WARMUP_RATE}/s; not part of the ladder`);
    await settle(server.pid);

    const ladderStart = Date.now();
    let unclean = 0;
    for (const rate of RATES) {
      if (Date.now() - ladderStart > LADDER_BUDGET_MS) {
        console.log(`# time budget of ${LADDER_BUDGET_MS / 60_000} min spent: not trying ${rate}/s and above`);
        break;
      }
      const s = await step(rate, server.pid, usersCsv, outDir);
      steps.push(s);
      TABLE.row(s);
      if (s.clean) {
        unclean = 0;
        await sleep(1000);
        continue;
      }
      // As run.sh: stop after a step with failed calls, or after two unclean steps in a row.
      await settle(server.pid);
      if (s.failed !== 0 || s.ok === 0 || ++unclean >= 2) break;
    }
    await settle(server.pid);
    bindingsHeld = (await metrics(HTTP_PORT)).sip_registrations_active;
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
  const sippVersion = requireSipp('register');
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
