/**
 * The CDR writer: a consumer of the call event bus. It keeps each open call's state in memory,
 * finalises the record on `call.ended` and writes finished records in batches. A batch the database
 * refuses goes to the spool on local disk (spool.ts), which writes it when the database answers
 * again; while the spool holds records, new batches join them there. Without a spool, or when the
 * disk fails too, a failed batch stays queued in memory and is retried with back-off; nothing is
 * dropped unless that queue is full, and then each dropped record is logged whole at error level
 * (see README.md, "Failure").
 */
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { CallEvent, EventBus } from '../calls/events.ts';
import type { Cdr } from '../domain/cdr.ts';
import { applyEvent, finalise, newCallState, type CallState } from './callRecord.ts';
import type { CdrSpool } from './spool.ts';

export interface CdrSink {
  insert(records: readonly Cdr[]): Promise<void>;
}

export interface CdrWriterOptions {
  bus: EventBus;
  sink: CdrSink;
  /** Where batches the sink refuses are kept until it takes them; without one they wait in memory. */
  spool?: CdrSpool;
  log: Logger;
  registry?: Registry;
  /** A partial batch waits at most this long. */
  flushMs?: number;
  /** A batch this full is written at once. */
  batchSize?: number;
  /** Finished records held while the database is failing. */
  maxQueue?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
}

export interface CdrWriter {
  /** Writes (or spools) everything queued now; rejects if that fails (the records stay queued). */
  flush(): Promise<void>;
  /** Unsubscribes and makes a last attempt to write what is queued. */
  stop(): Promise<void>;
  /** Records finished but not yet written. */
  readonly queued: number;
  /** The in-progress state of every open call (plain objects, for persistence and inspection). */
  openCalls(): CallState[];
  /** One open call's state (persisted with the call, for a restart). */
  openCall(callId: string): CallState | undefined;
  /** Takes back the state of a call a previous run of this node had open: its record continues. */
  resume(state: CallState): void;
}

export function startCdrWriter(o: CdrWriterOptions): CdrWriter {
  const flushMs = o.flushMs ?? 200;
  const batchSize = o.batchSize ?? 200;
  const maxQueue = o.maxQueue ?? 50_000;
  const retryBaseMs = o.retryBaseMs ?? 200;
  const retryMaxMs = o.retryMaxMs ?? 30_000;
  const registers = o.registry ? [o.registry] : [];
  const written = new Counter({ name: 'cdr_written_total', help: 'Call records written', registers });
  const failures = new Counter({ name: 'cdr_write_failures_total', help: 'Failed CDR batch writes (retried)', registers });
  const dropped = new Counter({ name: 'cdr_dropped_total', help: 'Call records dropped because the queue was full (logged whole)', registers });
  const queueDepth = new Gauge({ name: 'cdr_queue', help: 'Call records waiting to be written', registers });

  const open = new Map<string, CallState>();
  const queue: Cdr[] = [];
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<void> | undefined;
  let failedAttempts = 0;
  let stopped = false;

  const onEvent = (e: CallEvent): void => {
    if (e.type === 'call.ended') {
      const s = open.get(e.callId);
      if (!s) return;
      open.delete(e.callId);
      enqueue(finalise(s, e.at));
      return;
    }
    let s = open.get(e.callId);
    if (!s) open.set(e.callId, (s = newCallState(e)));
    applyEvent(s, e);
  };

  function enqueue(r: Cdr): void {
    if (queue.length >= maxQueue) {
      dropped.inc();
      o.log.error({ cdr: r, queued: queue.length }, 'CDR queue full: record dropped from the queue; it is logged here whole');
    } else {
      queue.push(r);
      queueDepth.set(queue.length);
    }
    if (queue.length >= batchSize && !writing && failedAttempts === 0) void write().catch(() => {});
    else schedule(flushMs);
  }

  function schedule(ms: number): void {
    if (timer || stopped) return;
    timer = setTimeout(() => {
      timer = undefined;
      void write().catch(() => {});
    }, ms);
  }

  /** Into the database, or the spool: there while it holds older records, or when the database fails. */
  async function deliver(batch: Cdr[]): Promise<'written' | 'spooled'> {
    const spool = o.spool;
    if (spool?.pending) {
      await spool.append(batch);
      return 'spooled';
    }
    try {
      await o.sink.insert(batch);
      return 'written';
    } catch (err) {
      failures.inc();
      if (!spool) throw err;
      o.log.error({ err, records: batch.length }, 'CDR write failed; spooling the batch to disk');
      await spool.append(batch);
      return 'spooled';
    }
  }

  /** Writes batches until the queue is empty; one writer at a time. */
  function write(): Promise<void> {
    if (writing) return writing.then(() => (queue.length ? write() : undefined));
    // With nothing to write the body below would finish synchronously, clearing `writing` before it is set.
    if (!queue.length) return Promise.resolve();
    writing = (async () => {
      try {
        while (queue.length) {
          const batch = queue.slice(0, batchSize);
          let outcome: 'written' | 'spooled';
          try {
            outcome = await deliver(batch);
          } catch (err) {
            failedAttempts++;
            const delay = Math.min(retryMaxMs, retryBaseMs * 2 ** (failedAttempts - 1)) * (0.5 + Math.random() / 2);
            o.log.error({ err, queued: queue.length, attempt: failedAttempts, retryInMs: Math.round(delay) }, 'CDR write failed; records kept, retrying');
            if (timer) clearTimeout(timer);
            timer = undefined;
            schedule(delay);
            throw err;
          }
          queue.splice(0, batch.length);
          queueDepth.set(queue.length);
          if (outcome === 'written') written.inc(batch.length);
          if (failedAttempts) o.log.warn({ afterAttempts: failedAttempts }, 'CDR writes recovered');
          failedAttempts = 0;
        }
      } finally {
        writing = undefined;
      }
    })();
    return writing;
  }

  const unsubscribe = o.bus.subscribe(onEvent);
  return {
    flush: () => write(),
    stop: async () => {
      unsubscribe();
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await write().catch((err: unknown) => {
        o.log.error({ err, lost: queue.length, records: queue }, 'CDRs not written at shutdown');
      });
      if (open.size) o.log.warn({ openCalls: open.size }, 'calls still open at shutdown: their records are not written');
    },
    get queued() {
      return queue.length;
    },
    openCalls: () => [...open.values()],
    openCall: (callId) => open.get(callId),
    resume: (state) => {
      if (!open.has(state.callId)) open.set(state.callId, state);
    },
  };
}
