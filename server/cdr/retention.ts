/**
 * Deletes call records older than the retention (CDR_RETENTION_DAYS) once shortly after start and
 * then every `intervalMs`. The store deletes in small batches with pauses, so a purge of a large
 * backlog never holds a long lock; stopping aborts between batches.
 */
import type { Logger } from 'pino';
import { startPeriodicPurge } from '../domain/periodicPurge.ts';
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
  return startPeriodicPurge({
    retentionDays: o.retentionDays,
    purge: (cutoff, signal) => o.archive.purgeOlderThan(cutoff, { ...o.purge, signal }),
    purged: (deleted, cutoff) => o.log.info({ deleted, cutoff: cutoff.toISOString() }, 'old call records purged'),
    failed: (err) => o.log.error({ err }, 'call record purge failed; next try at the next interval'),
    intervalMs: o.intervalMs,
    firstRunMs: o.firstRunMs,
  });
}
