/**
 * Time in tests. A test waits for the event or the state it needs (`eventually`), never for a
 * fixed time: on a loaded machine a fixed wait is either too short (a flaky test) or too long (a
 * slow one). Two kinds of waiting are about time itself, and these name them so that a reader (and
 * a grep) can tell them from synchronisation:
 *
 * - `silence(ms)`, a silence check: something must not happen (a retransmission, a late event, a
 *   ping), so the test gives it `ms` to show and then asserts that it did not.
 * - `elapse(ms)`: time passing is the input of the behaviour under test (a TTL or a rate window
 *   running out, a pause between two halves of a message). A timer never fires early, so waiting
 *   out what the test configured is exact.
 */

const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** A silence check: lets `ms` pass for something that must not happen to show. */
export const silence = (ms: number): Promise<void> => wait(ms);

/** Lets `ms` pass when time itself is the input of what is tested (a TTL, a rate window). */
export const elapse = (ms: number): Promise<void> => wait(ms);

/**
 * Polls `probe` every `everyMs` until it returns a value other than undefined or false, and
 * resolves with it; rejects after `ms`, naming `what`.
 */
export async function eventually<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, ms = 10_000, everyMs = 20): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await wait(everyMs);
  }
}
