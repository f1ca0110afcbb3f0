import type { Logger } from 'pino';
import type { Metrics } from '../observability/metrics.ts';
import type { LocationStore } from '../store/registrations.ts';

/**
 * Deletes expired bindings in small batches (never one long lock on a big table) and samples the
 * active count for metrics.
 */
export function startBindingSweeper(location: LocationStore, log: Logger, metrics: Metrics, intervalMs = 10_000): () => void {
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      const now = Date.now();
      let purged = 0;
      for (let batch = 0; batch < 20; batch++) {
        const n = await location.purgeExpired(now, 500);
        purged += n;
        if (n < 500) break;
      }
      if (purged) log.debug({ purged }, 'expired bindings removed');
      metrics.registrationsActive.set(await location.countActive(now));
    } catch (err) {
      log.warn({ err }, 'binding sweep failed; will retry');
    } finally {
      running = false;
    }
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  void tick();
  return () => clearInterval(timer);
}
