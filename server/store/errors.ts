/** Driver errors the data layer recognises, across better-sqlite3 and mysql2. */

export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e?.code === 'ER_DUP_ENTRY' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || /UNIQUE constraint/.test(e?.message ?? '');
}

/** InnoDB deadlock or lock wait timeout: the transaction was rolled back and may simply be retried. */
export function isRetryableConflict(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return code === 'ER_LOCK_DEADLOCK' || code === 'ER_LOCK_WAIT_TIMEOUT' || code === 'SQLITE_BUSY';
}

/** Runs `work` again (with a little jitter) when the database reports a retryable conflict. */
export async function retryOnConflict<T>(work: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if (!isRetryableConflict(err) || attempt >= attempts) throw err;
      await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt));
    }
  }
}

/** Socket and client codes that mean the connection, not the statement, failed (Node's net and mysql2). */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  // A read or write given up on after a deadline (cache.ts withDeadline).
  'DB_DEADLINE',
]);

/** MySQL/MariaDB server errors that say the server is going away or cannot take the connection. */
const SERVER_CODES = new Set([
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  'ER_CON_COUNT_ERROR',
  'ER_NET_READ_ERROR',
  'ER_NET_READ_INTERRUPTED',
  'ER_NET_ERROR_ON_WRITE',
  'ER_NET_WRITE_INTERRUPTED',
  'ER_CLIENT_INTERACTION_TIMEOUT',
]);

/**
 * The database cannot be reached right now (refused, reset, timed out, shutting down, a pool
 * connection that died), as opposed to a statement it refused. Callers may then serve what they
 * last knew and write later. SQLite errors never count: the file is local, and a failure there is
 * a fault to report, not an outage to ride out.
 */
export function isDatabaseUnreachable(err: unknown): boolean {
  for (let e = err as { code?: unknown; fatal?: unknown; errors?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; depth++) {
    const code = typeof e.code === 'string' ? e.code : '';
    if (code.startsWith('SQLITE_')) return false;
    if (CONNECTION_CODES.has(code) || SERVER_CODES.has(code)) return true;
    // mysql2 marks errors that killed the connection `fatal` (e.g. "Can't add new command when connection is in closed state").
    if (e.fatal === true) return true;
    // net.connect to a name with several addresses fails with an AggregateError carrying the code of each attempt.
    if (Array.isArray(e.errors) && e.errors.some((x) => isDatabaseUnreachable(x))) return true;
    e = e.cause as typeof e;
  }
  return false;
}
