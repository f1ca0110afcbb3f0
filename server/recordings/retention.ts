/**
 * Deletes recordings older than RECORDING_RETENTION_DAYS, file first, then row (a row without its
 * file would list a recording nobody can play; a file without a row is only space), once shortly
 * after start and then every `intervalMs`, in batches; stopping waits for the batch in progress.
 */
import type { Logger } from 'pino';
import { startPeriodicPurge } from '../domain/periodicPurge.ts';
import type { RecordingArchive } from '../store/recordings.ts';
import type { RecordingStore } from './recordingStore.ts';

export interface RecordingRetentionOptions {
  archive: RecordingArchive;
  files: RecordingStore;
  retentionDays: number;
  log: Logger;
  intervalMs?: number;
  firstRunMs?: number;
  batch?: number;
}

/** One purge: every recording older than `cutoff`; returns how many went. */
export async function purgeRecordings(o: Pick<RecordingRetentionOptions, 'archive' | 'files' | 'batch'>, cutoff: number, signal?: AbortSignal): Promise<number> {
  let deleted = 0;
  for (;;) {
    if (signal?.aborted) return deleted;
    const old = await o.archive.olderThan(cutoff, o.batch ?? 200);
    if (old.length === 0) return deleted;
    for (const r of old) await o.files.remove(r.file);
    await o.archive.remove(old.map((r) => r.id));
    deleted += old.length;
  }
}

export function startRecordingRetention(o: RecordingRetentionOptions): () => Promise<void> {
  return startPeriodicPurge({
    retentionDays: o.retentionDays,
    purge: (cutoff, signal) => purgeRecordings(o, cutoff, signal),
    purged: (deleted, cutoff) => o.log.info({ deleted, cutoff: cutoff.toISOString() }, 'old recordings purged'),
    failed: (err) => o.log.error({ err }, 'recording purge failed; next try at the next interval'),
    intervalMs: o.intervalMs,
    firstRunMs: o.firstRunMs,
  });
}
