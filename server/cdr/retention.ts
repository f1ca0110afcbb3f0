/**
 * Deletes call records older than the retention (CDR_RETENTION_DAYS) once shortly after start and
 * then every `intervalMs`. The store deletes in small batches with pauses, so a purge of a large
 * backlog never holds a long lock; stopping aborts between batches.
 */
import type { Logger } from 'pino';
import type { CdrArchive, PurgeOptions } from '../store/cdrs.ts';

export interface RetentionOptions {
  archive: CdrArchive;
  retentionDays: number;
  log: Logger;
  intervalMs?: number;
  firstRunMs?: number;
  purge?: Omit<PurgeOptions, 'signal'>;
}

export function startCdrRetention(o: RetentionOptions): () => Promise<void> {
  const abort = new AbortController();
  let running: Promise<void> | undefined;
  const run = () => {
    if (running) return;
    const cutoff = Date.now() - o.retentionDays * 86_400_000;
    running = o.archive
      .purgeOlderThan(cutoff, { ...o.purge, signal: abort.signal })
      .then((n) => {
        if (n) o.log.info({ deleted: n, cutoff: new Date(cutoff).toISOString() }, 'old call records purged');
      })
      .catch((err: unknown) => o.log.error({ err }, 'call record purge failed; next try at the next interval'))
      .finally(() => (running = undefined));
  };
  const first = setTimeout(run, o.firstRunMs ?? 60_000);
  const every = setInterval(run, o.intervalMs ?? 3_600_000);
  first.unref();
  every.unref();
  return async () => {
    clearTimeout(first);
    clearInterval(every);
    abort.abort();
    await running;
  };
}
