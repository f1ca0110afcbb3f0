/**
 * Deletes recordings older than RECORDING_RETENTION_DAYS, file first, then row (a row without its
 * file would list a recording nobody can play; a file without a row is only space), once shortly
 * after start and then every `intervalMs`, in batches; stopping waits for the batch in progress.
 */
import type { Logger } from 'pino';
import type { RecordingArchive } from '../store/recordings.ts';
import type { RecordingFiles } from './recordingFiles.ts';

export interface RecordingRetentionOptions {
  archive: RecordingArchive;
  files: RecordingFiles;
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
  const abort = new AbortController();
  let running: Promise<void> | undefined;
  const run = () => {
    if (running) return;
    const cutoff = Date.now() - o.retentionDays * 86_400_000;
    running = purgeRecordings(o, cutoff, abort.signal)
      .then((n) => {
        if (n) o.log.info({ deleted: n, cutoff: new Date(cutoff).toISOString() }, 'old recordings purged');
      })
      .catch((err: unknown) => o.log.error({ err }, 'recording purge failed; next try at the next interval'))
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
