/**
 * A sink whose inserts give up after a deadline. A database that hangs (a peer gone without a
 * FIN, a lock never released) is then treated like one that refuses, and the writer spools the
 * records. The abandoned insert may still commit later; the store skips ids it already holds, so
 * writing the spooled copy then is a no-op.
 */
import type { CdrSink } from './writer.ts';

export class CdrInsertTimeoutError extends Error {
  constructor(ms: number, records: number) {
    super(`CDR insert of ${records} records did not finish within ${ms} ms`);
  }
}

export function withInsertDeadline(sink: CdrSink, ms: number): CdrSink {
  return {
    insert: (records) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new CdrInsertTimeoutError(ms, records.length)), ms);
        sink
          .insert(records)
          .then(resolve, reject)
          .finally(() => clearTimeout(timer));
      }),
  };
}
