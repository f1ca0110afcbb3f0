/**
 * Backups of the switch's database. SQLite: SQLite's online backup (better-sqlite3's `backup()`),
 * which reads a consistent snapshot, WAL included, while the switch keeps writing; the copy is made
 * a single self-contained file (journal mode DELETE) and checked with `PRAGMA integrity_check`.
 * MySQL/MariaDB: the consistent-dump recipe, `mariadb-dump --single-transaction` (one snapshot of
 * the InnoDB tables without locking them), which this module can also run; the password goes to the
 * dump tool in an option file readable only by us, never on a command line or in the output.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';

export class BackupError extends Error {}

/** Tables whose row counts a backup report shows, so the operator sees what was written. */
const COUNTED_TABLES = ['tenants', 'users', 'sip_accounts', 'registrations', 'dialplans', 'providers', 'cdrs'];

export interface SqliteBackupReport {
  target: string;
  bytes: number;
  pages: number;
  integrity: string;
  rows: Record<string, number>;
}

/** Refuses a target that exists (a backup never overwrites) or that is the database itself. */
function checkTarget(target: string, source?: string): void {
  if (existsSync(target)) throw new BackupError(`${target} exists; a backup does not overwrite files`);
  if (!existsSync(path.dirname(path.resolve(target)))) throw new BackupError(`the directory of ${target} does not exist`);
  if (source && path.resolve(target) === realpathSync(source)) throw new BackupError('the target is the database itself');
}

/**
 * Copies the SQLite database at `file` into `target` while it may be in use. The copy is made
 * beside the target under a temporary name and renamed once it passed the integrity check.
 */
export async function backupSqlite(file: string, target: string): Promise<SqliteBackupReport> {
  if (!existsSync(file)) throw new BackupError(`no SQLite database at ${file}`);
  checkTarget(target, file);
  const partial = `${target}.partial`;
  rmSync(partial, { force: true });
  const source = new SQLite(file, { fileMustExist: true });
  let pages: number;
  try {
    source.pragma('busy_timeout = 5000');
    // All pages in one step: a write by the switch between steps makes SQLite start over, so
    // small steps could chase a busy database for ever; one step is one snapshot (in WAL mode
    // it blocks no writer).
    ({ totalPages: pages } = await source.backup(partial, { progress: () => 0x7fffffff }));
  } finally {
    source.close();
  }
  const copy = new SQLite(partial, { fileMustExist: true });
  let integrity: string;
  const rows: Record<string, number> = {};
  try {
    // A backup is one file to carry around: no -wal/-shm beside it.
    copy.pragma('journal_mode = DELETE');
    pages = Number(copy.pragma('page_count', { simple: true }));
    integrity = (copy.pragma('integrity_check') as Array<{ integrity_check: string }>).map((r) => r.integrity_check).join('; ');
    const tables = new Set((copy.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((r) => r.name));
    for (const t of COUNTED_TABLES) if (tables.has(t)) rows[t] = Number(copy.prepare(`SELECT count(*) FROM "${t}"`).pluck().get());
  } finally {
    copy.close();
  }
  if (integrity !== 'ok') {
    rmSync(partial, { force: true });
    throw new BackupError(`the copy failed PRAGMA integrity_check: ${integrity}`);
  }
  renameSync(partial, target);
  return { target, bytes: statSync(target).size, pages, integrity, rows };
}

export interface MysqlDump {
  /** The dump tool found on PATH, or null. */
  tool: string | null;
  /** The recipe to show: no password in it (`-p` asks for it). */
  display: string;
  database: string;
}

function onPath(tool: string): boolean {
  return !spawnSync(tool, ['--version'], { stdio: 'ignore' }).error;
}

function connectionOf(url: string) {
  const u = new URL(url);
  const database = decodeURIComponent(u.pathname.slice(1));
  if (!database) throw new BackupError('DATABASE_URL names no database');
  return {
    host: u.hostname,
    port: u.port || '3306',
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database,
  };
}

/** One InnoDB snapshot, no table locks, with routines and triggers; where and as whom. */
function dumpOptions(c: ReturnType<typeof connectionOf>): string[] {
  return ['--single-transaction', '--routines', '--triggers', `--host=${c.host}`, `--port=${c.port}`, ...(c.user ? [`--user=${c.user}`] : [])];
}

const shellQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The consistent-dump recipe for the database at `url`, written to `target`. */
export function mysqlDumpRecipe(url: string, target: string): MysqlDump {
  const c = connectionOf(url);
  const tool = ['mariadb-dump', 'mysqldump'].find(onPath) ?? null;
  const args = [...dumpOptions(c), ...(c.password ? ['-p'] : []), c.database];
  return { tool, database: c.database, display: `${tool ?? 'mariadb-dump'} ${args.map(shellQuote).join(' ')} > ${shellQuote(target)}` };
}

export interface MysqlDumpReport {
  target: string;
  bytes: number;
  tables: number;
}

/** Runs the recipe: the dump goes to `target` (under a temporary name until it is complete). */
export async function runMysqlDump(url: string, target: string): Promise<MysqlDumpReport> {
  const recipe = mysqlDumpRecipe(url, target);
  if (!recipe.tool) throw new BackupError('neither mariadb-dump nor mysqldump is on PATH');
  checkTarget(target);
  const c = connectionOf(url);
  // The password reaches the tool in an option file only we can read, never in its arguments
  // (which `ps` shows to everyone) or in what we print.
  const secrets = mkdtempSync(path.join(tmpdir(), 'sipswitch-dump-'));
  const optionFile = path.join(secrets, 'client.cnf');
  writeFileSync(optionFile, `[client]\npassword=${JSON.stringify(c.password)}\n`, { mode: 0o600 });
  const partial = `${target}.partial`;
  try {
    const args = [`--defaults-extra-file=${optionFile}`, ...dumpOptions(c), c.database];
    const out = createWriteStream(partial, { mode: 0o600 });
    const child = spawn(recipe.tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // The dump may be large: it is streamed to the file, and only its tables and last bytes are kept.
    let tables = 0;
    let tail = '';
    child.stdout.on('data', (d: Buffer) => {
      const text = tail + d.toString('latin1');
      tables += (text.match(/\nCREATE TABLE /g) ?? []).length - (tail.match(/\nCREATE TABLE /g) ?? []).length;
      tail = text.slice(-200);
    });
    child.stdout.pipe(out);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    });
    await new Promise<void>((resolve, reject) => (out.writableFinished ? resolve() : out.once('finish', resolve).once('error', reject)));
    if (code !== 0) throw new BackupError(`${recipe.tool} failed (exit ${code}): ${stderr.trim().replaceAll(c.password || '\0', '***')}`);
    if (!tail.includes('-- Dump completed')) throw new BackupError(`${recipe.tool} did not finish the dump`);
    renameSync(partial, target);
    return { target, bytes: statSync(target).size, tables };
  } finally {
    rmSync(partial, { force: true });
    rmSync(secrets, { recursive: true, force: true });
  }
}
