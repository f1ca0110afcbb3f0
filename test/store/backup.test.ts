/**
 * `npm run backup`: an online SQLite backup taken while a running switch writes (the copy opens,
 * passes integrity_check and holds the data), and the MySQL consistent-dump recipe, printed without
 * the password and, with --run, producing a complete dump.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import SQLite from 'better-sqlite3';
import mysql from 'mysql2/promise';
import { startCdrWriter } from '../../server/cdr/writer.ts';
import { EventBus } from '../../server/calls/events.ts';
import { createLogger } from '../../server/observability/log.ts';
import type { Cdr } from '../../server/domain/cdr.ts';
import { Store } from '../../server/store/index.ts';
import { createSipAccount, signUp } from '../helpers/api.ts';
import { createTestDatabase, skipUnless } from '../helpers/databases.ts';
import { startTestSwitch } from '../helpers/switch.ts';
import { CallScript } from '../cdr/callScript.ts';
import { skipWithout } from '../interop/tools.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const work = mkdtempSync(path.join(tmpdir(), 'sipswitch-backup-'));
after(() => rmSync(work, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `npm run backup -- …` as `npm` would (tsx), with only the given settings, bounded to 60 s. */
function backupCommand(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/backupCommand.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? work, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const log = createLogger({ level: 'silent', pretty: false });

/** `count` finished call records for a tenant, as the writer makes them. */
async function records(tenantId: string, count: number): Promise<Cdr[]> {
  const out: Cdr[] = [];
  const bus = new EventBus('n1', (err) => {
    throw err;
  });
  const writer = startCdrWriter({ bus, log, sink: { insert: async (r) => void out.push(...r) } });
  for (let i = 0; i < count; i++) {
    const at = Date.now();
    new CallScript(bus, tenantId)
      .inbound('A', { from: `+4930${i}`, to: 'bob', account: 'alice', at })
      .hangup('A', { at: at + 1, cause: 'rejected', by: 'switch', sipStatus: 404 })
      .end();
  }
  await writer.stop();
  return out;
}

test('SQLite: an online backup while the switch writes opens, passes integrity_check and holds the data', { timeout: 120_000 }, async () => {
  const sw = await startTestSwitch('sqlite');
  try {
    const api = await signUp(sw.httpUrl);
    const tenantId = (await api.get('/me')).body.tenant.id as string;
    const account = await createSipAccount(api);
    // Enough data that the copy takes a moment (several MB).
    const before = await records(tenantId, 3000);
    await sw.running.store.cdrs.insert(before);

    // The switch keeps writing through its own paths (API, CDR writer) while the backup runs.
    let writing = true;
    let writesDuringBackup = 0;
    const writer = (async () => {
      while (writing) {
        await createSipAccount(api);
        new CallScript(sw.running.bus, tenantId)
          .inbound('A', { from: 'carol', to: 'dave', account: 'carol', at: Date.now() })
          .hangup('A', { at: Date.now(), cause: 'rejected', by: 'switch', sipStatus: 404 })
          .end();
        await sw.running.cdrWriter.flush();
        writesDuringBackup++;
      }
    })();
    const target = path.join(work, 'online.sqlite');
    const run = await backupCommand([target], { DATA_DIR: sw.db.dir, DATABASE_URL: sw.db.url });
    writing = false;
    await writer;

    assert.equal(run.code, 0, run.stderr + run.stdout);
    assert.ok(writesDuringBackup > 0, 'the switch wrote while the command ran');
    assert.match(run.stdout, /integrity_check: ok/);
    assert.match(run.stdout, new RegExp(`to ${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: \\d+ bytes`));
    assert.match(run.stdout, /Provider passwords in this backup are sealed with the credentials key: the key file .*credentials\.key/);
    assert.equal(existsSync(`${target}.partial`), false);
    assert.equal(existsSync(`${target}-wal`), false, 'a single file');

    const copy = new SQLite(target, { readonly: true, fileMustExist: true });
    try {
      assert.equal(copy.pragma('integrity_check', { simple: true }), 'ok');
      assert.equal(copy.pragma('journal_mode', { simple: true }), 'delete');
      const cdrs = Number(copy.prepare('SELECT count(*) FROM cdrs WHERE tenant_id = ?').pluck().get(tenantId));
      assert.ok(cdrs >= before.length, `the records written before the backup are in it (${cdrs})`);
      assert.match(run.stdout, new RegExp(`cdrs ${cdrs}\\b`), 'the command reports what it wrote');
      assert.equal(copy.prepare('SELECT count(*) FROM sip_accounts WHERE username = ?').pluck().get(account.username), 1);
      assert.equal(copy.prepare('SELECT count(*) FROM tenants WHERE id = ?').pluck().get(tenantId), 1);
    } finally {
      copy.close();
    }

    // A backup never overwrites.
    const again = await backupCommand([target], { DATA_DIR: sw.db.dir, DATABASE_URL: sw.db.url });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists; a backup does not overwrite/);
  } finally {
    await sw.close();
  }
});

test('usage errors exit 2 with the usage line', async () => {
  const r = await backupCommand([], { DATA_DIR: work });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /usage: npm run backup -- <target file>/);
});

test('MySQL: the consistent-dump recipe is printed without the password', async () => {
  const password = `pw-${randomBytes(6).toString('hex')}`;
  const r = await backupCommand([path.join(work, 'dump.sql')], { DATA_DIR: work, DATABASE_URL: `mysql://switch:${password}@db.internal:3307/sipswitch` });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /(mariadb-dump|mysqldump) --single-transaction --routines --triggers --host=db\.internal --port=3307 --user=switch -p sipswitch > \S*dump\.sql/);
  assert.ok(!(r.stdout + r.stderr).includes(password), 'the password is never printed');
  assert.match(r.stdout, /Provider passwords in this backup are sealed with the credentials key/);
  assert.equal(existsSync(path.join(work, 'dump.sql')), false, 'without --run nothing is dumped');
});

test('what waits in the spool is named: call records and registration changes, not in this backup', async () => {
  const dataDir = mkdtempSync(path.join(work, 'spooled-'));
  mkdirSync(path.join(dataDir, 'spool'));
  writeFileSync(path.join(dataDir, 'spool', 'cdrs.jsonl'), '{"id":"a"}\n{"id":"b"}\n');
  writeFileSync(path.join(dataDir, 'spool', 'cdrs.draining.jsonl'), '{"id":"c"}\n');
  writeFileSync(path.join(dataDir, 'spool', 'registrations.jsonl'), '{"kind":"upsert"}\n');
  const r = await backupCommand([path.join(work, 'spooled.sql')], { DATA_DIR: dataDir, DATABASE_URL: 'mysql://switch@db.internal/sipswitch' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Note: 3 call records and 1 registration changes wait in the spool \(\S+spool\) for the database and are not in this backup/);

  writeFileSync(path.join(dataDir, 'spool', 'registrations.jsonl'), '');
  writeFileSync(path.join(dataDir, 'spool', 'cdrs.jsonl'), '');
  rmSync(path.join(dataDir, 'spool', 'cdrs.draining.jsonl'));
  const empty = await backupCommand([path.join(work, 'spooled.sql')], { DATA_DIR: dataDir, DATABASE_URL: 'mysql://switch@db.internal/sipswitch' });
  assert.doesNotMatch(empty.stdout, /wait in the spool/, 'nothing said when nothing waits');
});

describe('MySQL: --run dumps the database [mysql]', { skip: skipUnless('mysql') || skipWithout('mariadb-dump', 'mariadb-client') }, () => {
  test('a complete dump with every table, the password kept out of arguments and output', { timeout: 60_000 }, async () => {
    const db = await createTestDatabase('mysql');
    const user = `bk_${randomBytes(4).toString('hex')}`;
    const password = `Pw'"${randomBytes(6).toString('hex')}`;
    const u = new URL(db.url);
    const admin = await mysql.createConnection({ uri: db.url });
    try {
      const store = await Store.open(db.url);
      await store.cdrs.insert(await records('tenant-dump', 5));
      await store.close();
      const database = u.pathname.slice(1);
      for (const host of ['localhost', '127.0.0.1', '%']) {
        await admin.query(`CREATE USER ?@? IDENTIFIED BY ?`, [user, host, password]);
        await admin.query(`GRANT ALL ON \`${database}\`.* TO ?@?`, [user, host]);
      }
      u.username = user;
      u.password = encodeURIComponent(password);
      const target = path.join(work, 'run.sql');
      const r = await backupCommand([target, '--run'], { DATA_DIR: work, DATABASE_URL: u.toString() });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.ok(!(r.stdout + r.stderr).includes(password.slice(4)), 'the password is never printed');
      const dump = readFileSync(target, 'utf8');
      assert.match(dump, /CREATE TABLE `cdrs`/);
      assert.match(dump, /INSERT INTO `cdrs`/);
      assert.match(dump, /-- Dump completed/);
      const tables = (dump.match(/^CREATE TABLE /gm) ?? []).length;
      assert.match(r.stdout, new RegExp(`dumped MySQL database ${database} to ${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: \\d+ bytes, ${tables} tables`));
      assert.ok(!dump.includes(password.slice(4)));
    } finally {
      for (const host of ['localhost', '127.0.0.1', '%']) await admin.query('DROP USER IF EXISTS ?@?', [user, host]);
      await admin.end();
      await db.drop();
    }
  });
});
