/**
 * The databases every storage test runs against: a fresh SQLite file and a fresh MySQL database
 * (on MYSQL_URL, default root@127.0.0.1:3306). Without a reachable MySQL the MySQL variants skip
 * with a loud reason, except in CI, where that is a failure.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';

export type Dialect = 'sqlite' | 'mysql';
export const DIALECTS: Dialect[] = ['sqlite', 'mysql'];

const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

/** Several patient attempts: on a loaded machine (CI runs test files in parallel) a connect can take seconds. */
async function probeMysql(): Promise<string | undefined> {
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const c = await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 10_000 });
      await c.end();
      return undefined;
    } catch (err) {
      last = err;
      if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED' && !process.env.CI) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  return `MySQL/MariaDB not reachable at ${MYSQL_URL} (${(last as Error).message}); start MariaDB or set MYSQL_URL`;
}

const mysqlProblem = await probeMysql();
if (mysqlProblem && process.env.CI) throw new Error(`CI needs MySQL: ${mysqlProblem}`);
if (mysqlProblem) console.warn(`SKIPPING MySQL variants: ${mysqlProblem}`);

/** A reason to skip this dialect's tests, or false. */
export function skipUnless(dialect: Dialect): string | false {
  return dialect === 'mysql' && mysqlProblem ? mysqlProblem : false;
}

export interface TestDatabase {
  dialect: Dialect;
  url: string;
  /** A directory for this database's data (the SQLite file lives here). */
  dir: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(dialect: Dialect): Promise<TestDatabase> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sipswitch-test-'));
  if (dialect === 'sqlite') {
    return { dialect, url: `sqlite://${path.join(dir, 'switch.sqlite')}`, dir, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const name = `sw_test_${randomBytes(6).toString('hex')}`;
  const admin = await mysql.createConnection({ uri: MYSQL_URL });
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
  await admin.end();
  const u = new URL(MYSQL_URL);
  u.pathname = `/${name}`;
  return {
    dialect,
    url: u.toString(),
    dir,
    drop: async () => {
      const c = await mysql.createConnection({ uri: MYSQL_URL });
      await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await c.end();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
