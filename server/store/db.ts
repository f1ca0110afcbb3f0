/**
 * Opens the database named by DATABASE_URL (sqlite://path or mysql://…) and applies migrations.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, MysqlDialect, SqliteDialect, type Migration, type SqliteDatabase, type SqliteStatement } from 'kysely';
import { createPool } from 'mysql2';
import * as m001 from './migrations/001_foundation.ts';
import * as m002 from './migrations/002_dialplans.ts';
import * as m003 from './migrations/003_cdrs.ts';
import * as m004 from './migrations/004_live_calls.ts';
import * as m005 from './migrations/005_cdr_numbers.ts';
import * as m006 from './migrations/006_providers.ts';
import * as m007 from './migrations/007_toll_fraud.ts';
import * as m008 from './migrations/008_key_scopes_quotas_paging.ts';
import * as m011 from './migrations/011_provider_numbers.ts';
import * as m012 from './migrations/012_extensions.ts';
import * as m013 from './migrations/013_call_traces.ts';
import * as m015 from './migrations/015_audio.ts';
import * as m016 from './migrations/016_nodes.ts';
import * as m017 from './migrations/017_cdr_quality.ts';
import type { Database } from './schema.ts';

export type DialectName = 'sqlite' | 'mysql';

export interface Db {
  kysely: Kysely<Database>;
  dialect: DialectName;
  close(): Promise<void>;
}

/**
 * Kysely prepares every query afresh; on the per-REGISTER path that was a tenth of the CPU. Our
 * queries are built from a fixed set of shapes with bound parameters, so the statements are few
 * and worth keeping (bounded anyway, in case some caller builds SQL with variable shape).
 */
function withStatementCache(db: SQLite.Database, max = 500): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    close: () => db.close(),
    prepare(sql: string): SqliteStatement {
      let stmt = cache.get(sql);
      if (!stmt) {
        stmt = db.prepare(sql) as unknown as SqliteStatement;
        if (cache.size >= max) cache.clear();
        cache.set(sql, stmt);
      }
      return stmt;
    },
  };
}

const migrations: Record<string, Migration> = {
  '001_foundation': m001,
  '002_dialplans': m002,
  '003_cdrs': m003,
  '004_live_calls': m004,
  '005_cdr_numbers': m005,
  '006_providers': m006,
  '007_toll_fraud': m007,
  '011_provider_numbers': m011,
  '012_extensions': m012,
  '013_call_traces': m013,
  '008_key_scopes_quotas_paging': m008,
  '015_audio': m015,
  '016_nodes': m016,
  '017_cdr_quality': m017,
};

export function openDatabase(url: string): Db {
  if (url.startsWith('sqlite://')) {
    const file = url.slice('sqlite://'.length);
    mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const sqlite = new SQLite(file);
    // WAL with NORMAL sync: a crash loses at most the last transactions, never corrupts the file.
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    const kysely = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
    return { kysely, dialect: 'sqlite', close: () => kysely.destroy() };
  }
  if (url.startsWith('mysql://')) {
    const pool = createPool({
      uri: url,
      connectionLimit: 10,
      // BIGINT epoch-ms columns come back as numbers; they stay far below 2^53.
      supportBigNumbers: true,
      bigNumberStrings: false,
      timezone: 'Z',
      charset: 'utf8mb4',
    });
    const kysely = new Kysely<Database>({ dialect: new MysqlDialect({ pool }) });
    return { kysely, dialect: 'mysql', close: () => kysely.destroy() };
  }
  throw new Error(`unsupported DATABASE_URL scheme: ${url.split(':')[0]}`);
}

export function migrateToLatest(db: Db): Promise<string[]> {
  return migrateTo(db);
}

/** Runs the migrations up to and including `target` (all when omitted); returns the names run. */
export async function migrateTo(db: Db, target?: string): Promise<string[]> {
  const migrator = new Migrator({
    db: db.kysely,
    provider: { getMigrations: async () => migrations },
    // Numbers are handed out per piece of work and merged in any order (011 landed before 008):
    // a database that ran a later one must still get an earlier one merged after it.
    allowUnorderedMigrations: true,
  });
  const { error, results } = target ? await migrator.migrateTo(target) : await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
