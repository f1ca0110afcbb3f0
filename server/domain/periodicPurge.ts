/**
 * Retention as a schedule: deletes what is older than `retentionDays` once shortly after start,
 * then every `intervalMs`, one purge at a time (a run still going when the next is due lets it
 * pass); stopping aborts the purge between its batches and waits for it. What is deleted, and how
 * (batches, files before rows), is the caller's `purge`.
 */
export interface PeriodicPurgeOptions {
  retentionDays: number;
  /** Deletes everything older than `cutoff` (epoch ms); resolves with how many went. */
  purge(cutoff: number, signal: AbortSignal): Promise<number>;
  /** After a purge that deleted something. */
  purged(deleted: number, cutoff: Date): void;
  /** A purge failed; the next interval tries again. */
  failed(err: unknown): void;
  intervalMs?: number;
  firstRunMs?: number;
}

const DAY_MS = 86_400_000;

export function startPeriodicPurge(o: PeriodicPurgeOptions): () => Promise<void> {
  const abort = new AbortController();
  let running: Promise<void> | undefined;
  const run = () => {
    if (running) return;
    const cutoff = Date.now() - o.retentionDays * DAY_MS;
    running = o
      .purge(cutoff, abort.signal)
      .then((n) => {
        if (n) o.purged(n, new Date(cutoff));
      })
      .catch((err: unknown) => o.failed(err))
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
