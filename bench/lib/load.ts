/** Load shapes shared by the benches: saturate with a fixed concurrency, or offer a steady rate. */
import { performance } from 'node:perf_hooks';

/** Runs `fn` back to back from `concurrency` loops until `ms` have passed; returns how many finished. */
export async function saturate(concurrency: number, ms: number, fn: () => Promise<unknown>): Promise<number> {
  const end = performance.now() + ms;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await fn();
        done += 1;
      }
    }),
  );
  return done;
}

/**
 * Starts `fn` `rate` times a second for `ms` (on schedule, whether or not earlier ones finished)
 * and returns each one's time from its start to its end in ms, sorted.
 */
export async function paced(rate: number, ms: number, fn: () => Promise<unknown>): Promise<number[]> {
  const latencies: number[] = [];
  const pending: Array<Promise<void>> = [];
  const start = performance.now();
  for (let i = 0; performance.now() - start < ms; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    // setTimeout cannot wait less than ~1 ms: closer deadlines start at once.
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const started = performance.now();
    pending.push(fn().then(() => void latencies.push(performance.now() - started)));
  }
  await Promise.all(pending);
  return latencies.sort((a, b) => a - b);
}

/** The p-th percentile (0–100) of ascending `sorted`; NaN when empty. */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
