/**
 * Call records at scale: inserts CDR_BENCH_ROWS (default 1,000,000) records for 4 tenants straight
 * through the store (batched, as the writer does), then measures the listing — first page, a page
 * deep in the keyset, with and without filters, p50/p99 over repeats — and the retention purge rate.
 * SQLite always; MySQL too with --mysql (MYSQL_URL). Each dialect stays under 5 minutes: inserting
 * stops at INSERT_BUDGET_S and the purge at PURGE_BUDGET_S, and the table says how many rows there were.
 *
 *   tsx bench/cdrs.ts [--mysql]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import { v7 } from 'uuid';
import type { Cdr, CdrStatus } from '../server/domain/cdr.ts';
import { encodeCursor, type CdrFilter } from '../server/store/cdrs.ts';
import { Store } from '../server/store/index.ts';
import { percentile } from './lib/load.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ROWS = Number(process.env.CDR_BENCH_ROWS ?? 1_000_000);
const INSERT_BUDGET_S = Number(process.env.INSERT_BUDGET_S ?? 180);
const PURGE_BUDGET_S = Number(process.env.PURGE_BUDGET_S ?? 40);
const REPEATS = Number(process.env.REPEATS ?? 40);
const CASE_BUDGET_MS = 10_000;
const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const TENANTS = Array.from({ length: 4 }, () => v7());
const DAY = 86_400_000;
const SPAN = 120 * DAY;
const STATUSES: Array<[CdrStatus, number]> = [
  ['answered', 200],
  ['busy', 486],
  ['no-answer', 480],
  ['cancelled', 487],
  ['failed', 503],
];

function record(i: number, now: number): Cdr {
  const startedAt = now - SPAN + Math.floor((i / ROWS) * SPAN);
  const [status, sipStatus] = STATUSES[Math.max(0, (Math.floor(i / TENANTS.length) % 10) - 5)]!;
  const caller = `+4930${String(i % 1000).padStart(6, '0')}`;
  const callee = `ext${i % 97}`;
  const answered = status === 'answered';
  return {
    id: v7({ msecs: startedAt }),
    tenantId: TENANTS[i % TENANTS.length]!,
    callId: v7({ msecs: startedAt }),
    nodeId: 'bench',
    direction: 'in',
    caller,
    callee,
    dialled: [callee],
    account: null,
    provider: 'trunk',
    startedAt,
    ringingAt: startedAt + 100,
    answeredAt: answered ? startedAt + 4000 : null,
    endedAt: startedAt + 60_000,
    ringMs: answered ? 3900 : 59_900,
    talkMs: answered ? 56_000 : 0,
    status,
    sipStatus,
    hangupCause: answered ? 'normal' : status,
    hangupBy: 'caller',
    dialplan: { name: 'default', version: 1, outcome: 'bridged' },
    legs: [
      {
        id: v7(),
        direction: 'inbound',
        from: { user: caller, host: 'trunk', uri: `sip:${caller}@trunk` },
        to: { user: callee, host: 'sw', uri: `sip:${callee}@sw` },
        createdAt: startedAt,
        endedAt: startedAt + 60_000,
      },
      {
        id: v7(),
        direction: 'outbound',
        target: callee,
        from: { user: caller, host: 'sw', uri: `sip:${caller}@sw` },
        to: { user: callee, host: 'sw', uri: `sip:${callee}@sw` },
        createdAt: startedAt + 10,
        endedAt: startedAt + 60_000,
      },
    ],
    log: [],
  };
}

const pct = (xs: number[], p: number) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    p,
  );

interface Row {
  case: string;
  p50: number;
  p99: number;
  items: number;
  repeats: number;
}

async function runOn(dialect: 'sqlite' | 'mysql'): Promise<Record<string, unknown>> {
  let url: string;
  let cleanup: () => Promise<void>;
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cdr-bench-'));
    url = `sqlite://${path.join(dir, 'bench.sqlite')}`;
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
  } else {
    const name = `cdr_bench_${randomBytes(4).toString('hex')}`;
    const admin = await mysql.createConnection({ uri: MYSQL_URL });
    await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
    await admin.end();
    const u = new URL(MYSQL_URL);
    u.pathname = `/${name}`;
    url = u.toString();
    cleanup = async () => {
      const c = await mysql.createConnection({ uri: MYSQL_URL });
      await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await c.end();
    };
  }
  const store = await Store.open(url);
  try {
    const now = Date.now();
    const t0 = performance.now();
    let inserted = 0;
    const BATCH = 5000;
    while (inserted < ROWS && performance.now() - t0 < INSERT_BUDGET_S * 1000) {
      const n = Math.min(BATCH, ROWS - inserted);
      await store.cdrs.insert(Array.from({ length: n }, (_, k) => record(inserted + k, now)));
      inserted += n;
    }
    const insertS = (performance.now() - t0) / 1000;
    console.log(`[${dialect}] inserted ${inserted} rows in ${insertS.toFixed(1)} s (${Math.round(inserted / insertS)}/s)`);

    const tenant = store.tenant(TENANTS[0]!).cdrs;
    // A cursor 80% of the way back through tenant 0's records: a deep page in the keyset.
    const deepIndex = Math.floor(inserted * 0.2) - (Math.floor(inserted * 0.2) % TENANTS.length);
    const deep = record(deepIndex, now);
    const deepCursor = encodeCursor(deep.startedAt, deep.id);
    const mid = now - SPAN / 2;
    const cases: Array<[string, CdrFilter, string | undefined]> = [
      ['first page', {}, undefined],
      ['deep page (80% back)', {}, deepCursor],
      ['first page, status=busy', { status: 'busy' }, undefined],
      ['deep page, status=busy', { status: 'busy' }, deepCursor],
      ['first page, status=480', { status: 480 }, undefined],
      ['first page, number (caller, 1 in 1000)', { number: '+4930000004' }, undefined],
      ['first page, number (dialled, 1 in 97)', { number: 'ext5' }, undefined],
      ['first page, number absent (tenant scan)', { number: '+4999999999' }, undefined],
      ['one day, number absent', { from: mid, to: mid + DAY, number: '+4999999999' }, undefined],
      ['one day range', { from: mid, to: mid + DAY }, undefined],
    ];
    const rows: Row[] = [];
    for (const [name, filter, cursor] of cases) {
      const times: number[] = [];
      let items = 0;
      // A slow case gets fewer repeats (at least 3), so the dialect stays within its time bound.
      const caseStart = performance.now();
      for (let r = 0; r < REPEATS && (r < 3 || performance.now() - caseStart < CASE_BUDGET_MS); r++) {
        const s = performance.now();
        const page = await tenant.list(filter, { limit: 50, ...(cursor ? { cursor } : {}) });
        times.push(performance.now() - s);
        items = page.items.length;
      }
      rows.push({ case: name, p50: pct(times, 50), p99: pct(times, 99), items, repeats: times.length });
    }

    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), PURGE_BUDGET_S * 1000);
    const ps = performance.now();
    const purged = await store.cdrs.purgeOlderThan(now - 90 * DAY, { batchSize: 1000, pauseMs: 20, signal: abort.signal });
    clearTimeout(timer);
    const purgeS = (performance.now() - ps) / 1000;
    return { dialect, rows: inserted, insertS, insertPerS: inserted / insertS, listing: rows, purged, purgeS, purgePerS: purged / purgeS };
  } finally {
    await store.close();
    await cleanup();
  }
}

function print(r: Record<string, unknown>): void {
  const listing = r.listing as Row[];
  console.log(`\n## CDRs on ${r.dialect}: ${r.rows} rows, 4 tenants, ${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? '?'})`);
  console.log(`insert: ${Math.round(r.insertPerS as number)} rows/s (batches of 5,000, 500 rows per statement)`);
  console.log('| listing (limit 50, one tenant of 4) | p50 ms | p99 ms | items | repeats |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const l of listing) console.log(`| ${l.case} | ${l.p50.toFixed(2)} | ${l.p99.toFixed(2)} | ${l.items} | ${l.repeats} |`);
  console.log(`purge (> 90 days, 1,000 per statement, 20 ms pauses): ${r.purged} rows in ${(r.purgeS as number).toFixed(1)} s = ${Math.round(r.purgePerS as number)} rows/s`);
}

export async function cdrBench(opts: { mysql: boolean }): Promise<void> {
  const results = [];
  for (const dialect of opts.mysql ? (['sqlite', 'mysql'] as const) : (['sqlite'] as const)) {
    const r = await runOn(dialect);
    print(r);
    results.push(r);
  }
  const outDir = path.join(ROOT, 'bench-results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, `cdrs-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), JSON.stringify({ cores: os.availableParallelism(), results }, null, 2));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await cdrBench({ mysql: process.argv.includes('--mysql') });
}
