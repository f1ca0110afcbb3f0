/**
 * isDatabaseUnreachable (server/store/errors.ts): what counts as "the database cannot be reached"
 * (served from caches and the location overlay) and what is a statement's own failure (reported).
 * Real driver errors where they can be made here, the rest by their codes.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import { openDatabase } from '../../server/store/db.ts';
import { isDatabaseUnreachable } from '../../server/store/errors.ts';
import { withDeadline } from '../../server/store/cache.ts';
import { createTestDatabase, skipUnless } from '../helpers/databases.ts';

const coded = (code: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(code), { code, ...extra });

/** A TCP port on 127.0.0.1 that nothing listens on (bound, then closed). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function errorOf(work: () => Promise<unknown>): Promise<unknown> {
  try {
    await work();
  } catch (err) {
    return err;
  }
  throw new Error('expected the work to fail');
}

describe('isDatabaseUnreachable', () => {
  test('connection failures of Node and mysql2 count', () => {
    for (const code of [
      'ECONNREFUSED',
      'ECONNRESET',
      'ETIMEDOUT',
      'EHOSTUNREACH',
      'ENETUNREACH',
      'EPIPE',
      'ENOTFOUND',
      'EAI_AGAIN',
      'PROTOCOL_CONNECTION_LOST',
      'PROTOCOL_SEQUENCE_TIMEOUT',
    ]) {
      assert.equal(isDatabaseUnreachable(coded(code)), true, code);
    }
  });

  test('MySQL/MariaDB server errors about going away or taking no connections count', () => {
    for (const code of ['ER_SERVER_SHUTDOWN', 'ER_CONNECTION_KILLED', 'ER_CON_COUNT_ERROR', 'ER_NET_READ_ERROR', 'ER_NET_ERROR_ON_WRITE', 'ER_CLIENT_INTERACTION_TIMEOUT']) {
      assert.equal(isDatabaseUnreachable(coded(code)), true, code);
    }
  });

  test("a pool connection that died (mysql2 'fatal', no code) counts, and so do deadlines and wrapped causes", async () => {
    assert.equal(isDatabaseUnreachable(Object.assign(new Error("Can't add new command when connection is in closed state"), { fatal: true })), true);
    assert.equal(isDatabaseUnreachable(new AggregateError([coded('ECONNREFUSED'), coded('ECONNREFUSED')])), true);
    assert.equal(isDatabaseUnreachable(new Error('query failed', { cause: coded('PROTOCOL_CONNECTION_LOST') })), true);
    const hung = await errorOf(() => withDeadline(new Promise(() => {}), 10, 'a read'));
    assert.equal(isDatabaseUnreachable(hung), true, 'a read given up on after its deadline');
  });

  test("a statement's own failure does not count", () => {
    for (const err of [
      coded('ER_DUP_ENTRY'),
      coded('ER_PARSE_ERROR'),
      coded('ER_NO_SUCH_TABLE'),
      coded('ER_LOCK_DEADLOCK'),
      coded('ER_ACCESS_DENIED_ERROR'),
      coded('ER_NO_REFERENCED_ROW_2'),
      new TypeError('a bug'),
      new Error('no code'),
      undefined,
      null,
      'a string',
    ]) {
      assert.equal(isDatabaseUnreachable(err), false, String((err as { code?: string })?.code ?? err));
    }
  });

  test('SQLite errors never count, whatever else they carry', () => {
    for (const code of ['SQLITE_BUSY', 'SQLITE_IOERR', 'SQLITE_CANTOPEN', 'SQLITE_CORRUPT', 'SQLITE_FULL']) {
      assert.equal(isDatabaseUnreachable(coded(code)), false, code);
      assert.equal(isDatabaseUnreachable(coded(code, { fatal: true })), false, `${code} marked fatal`);
    }
  });

  test('real: a MySQL pool whose server is not there fails with an error that counts', async () => {
    const db = openDatabase(`mysql://root@127.0.0.1:${await closedPort()}/none`);
    try {
      const err = await errorOf(() => sql`SELECT 1`.execute(db.kysely));
      assert.equal((err as { code?: string }).code, 'ECONNREFUSED');
      assert.equal(isDatabaseUnreachable(err), true);
    } finally {
      await db.close();
    }
  });

  test('real: an SQLite statement error does not count', async () => {
    const tdb = await createTestDatabase('sqlite');
    const db = openDatabase(tdb.url);
    try {
      const err = await errorOf(() => sql`SELECT * FROM no_such_table`.execute(db.kysely));
      assert.match(String((err as { code?: string }).code), /^SQLITE_/);
      assert.equal(isDatabaseUnreachable(err), false);
    } finally {
      await db.close();
      await tdb.drop();
    }
  });

  test('real: a MySQL statement error does not count', { skip: skipUnless('mysql') }, async () => {
    const tdb = await createTestDatabase('mysql');
    const db = openDatabase(tdb.url);
    try {
      const err = await errorOf(() => sql`SELECT * FROM no_such_table`.execute(db.kysely));
      assert.equal((err as { code?: string }).code, 'ER_NO_SUCH_TABLE');
      assert.equal(isDatabaseUnreachable(err), false);
    } finally {
      await db.close();
      await tdb.drop();
    }
  });
});
