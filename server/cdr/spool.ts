/**
 * The CDR spool: call records the database did not take, kept on local disk (JSON lines under
 * DATA_DIR/spool) until it does. An append is fsynced before it returns, so a batch handed to the
 * spool survives a crash of the switch. A drainer writes the spool to the database with back-off:
 * it first renames the file being appended to (`cdrs.jsonl`) to `cdrs.draining.jsonl`, inserts that
 * file batch by batch and deletes it at the end. The store skips ids it already holds, so a crash
 * between an insert and the deletion only means the next start inserts those records again, as no-ops.
 * On open, a spool left by an earlier run is drained at once. When the disk is full, appends go
 * into the space set aside for them (spoolReserve.ts), drained after the files. See README.md
 * ("Failure").
 */
import { createReadStream } from 'node:fs';
import { mkdir, rename, stat } from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Cdr } from '../domain/cdr.ts';
import { appendDurably, countLines, endTornLine, jsonLines, oneAtATime, removeDurably, syncDir } from '../store/durableFile.ts';
import { openSpoolReserve, RESERVE_FILE, type SpoolReserve } from './spoolReserve.ts';
import type { CdrSink } from './writer.ts';

/** Append failures the reserve is for: no space (or quota) left. */
const NO_SPACE = new Set(['ENOSPC', 'EDQUOT']);

export const SPOOL_FILE = 'cdrs.jsonl';
export const DRAINING_FILE = 'cdrs.draining.jsonl';

export interface CdrSpoolOptions {
  /** The spool's directory (DATA_DIR/spool); created if missing. */
  dir: string;
  sink: CdrSink;
  log: Logger;
  registry?: Registry;
  /** Records per insert while draining. */
  batchSize?: number;
  /** Back-off between drain attempts while the database refuses: doubling from base to max, jittered. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Bytes set aside for records when the disk is full (spoolReserve.ts); none without. */
  reserveBytes?: number;
  /** Told when an append fails for a disk reason (the data directory's health). */
  onDiskFailure?: (err: unknown, what: string) => void;
}

export interface CdrSpool {
  /** Records on disk not yet in the database. */
  readonly pending: number;
  /** Appends and fsyncs; when it resolves the records are safe. Rejects (and leaves the file as it was) if the disk fails. */
  append(records: readonly Cdr[]): Promise<void>;
  /** Resolves once the spool is empty, draining now if no attempt is under way (tests, tools). Rejects if this attempt fails. */
  drain(): Promise<void>;
  /** Stops draining (between batches); what is left stays on disk for the next start. */
  stop(): Promise<void>;
}

/** The identity of a record for log lines: enough to find it in the database or the spool. */
const named = (records: readonly Cdr[]) => records.map((r) => ({ id: r.id, tenantId: r.tenantId, callId: r.callId }));

/** A spooled line back into a record; null for a line that is not one (a torn write of a crashed run). */
function parseLine(line: string): Cdr | null {
  try {
    const v = JSON.parse(line) as Partial<Cdr> | null;
    if (v && typeof v.id === 'string' && typeof v.tenantId === 'string' && typeof v.callId === 'string' && typeof v.startedAt === 'number') return v as Cdr;
  } catch {
    /* falls through */
  }
  return null;
}

export async function openCdrSpool(o: CdrSpoolOptions): Promise<CdrSpool> {
  const batchSize = o.batchSize ?? 200;
  const retryBaseMs = o.retryBaseMs ?? 500;
  const retryMaxMs = o.retryMaxMs ?? 5000;
  const activePath = path.join(o.dir, SPOOL_FILE);
  const drainingPath = path.join(o.dir, DRAINING_FILE);
  const reservePath = path.join(o.dir, RESERVE_FILE);
  const registers = o.registry ? [o.registry] : [];
  const gauge = new Gauge({ name: 'cdr_spool_records', help: 'Call records in the local spool, waiting for the database', registers });
  const appended = new Counter({ name: 'cdr_spool_appended_total', help: 'Call records written to the local spool because the database failed', registers });
  const drained = new Counter({ name: 'cdr_spool_drained_total', help: 'Spooled call records written to the database', registers });
  const writeFailures = new Counter({ name: 'cdr_spool_write_failures_total', help: 'Failed appends to the local spool (the records stay in memory)', registers });
  const drainFailures = new Counter({ name: 'cdr_spool_drain_failures_total', help: 'Failed attempts to write spooled records to the database (retried)', registers });

  await mkdir(o.dir, { recursive: true });
  const reserve = await openSpoolReserve(o.dir, o.reserveBytes ?? 0, o.log);
  let activeLines = await endTornLine(activePath);
  const leftover = await countLines(drainingPath);
  let drainingLines = leftover.lines;
  let drainingExists =
    leftover.lines > 0 ||
    (await stat(drainingPath).then(
      () => true,
      () => false,
    ));
  /** Bytes of the draining file already in the database (this run only; a restart re-inserts them as no-ops). */
  let drainingOffset = 0;
  const pending = () => activeLines + drainingLines + (reserve?.pending ?? 0);
  gauge.set(pending());

  /** Appends and the rename of the file appended to must not interleave. */
  const exclusive = oneAtATime();

  let stopped = false;
  /** Appends go into the reserve (said once, until an append to the spool file works again). */
  let diskFull = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let failedAttempts = 0;

  /** Inserts spooled lines in batches; after each batch, `done(lines, bytes)` says how far it got. */
  async function insertLines(lines: AsyncIterable<string> | Iterable<string>, file: string, done: (lines: number, bytes: number) => void): Promise<void> {
    let batch: Cdr[] = [];
    let batchLines = 0;
    let batchBytes = 0;
    const flush = async () => {
      if (batch.length) {
        await o.sink.insert(batch);
        drained.inc(batch.length);
        o.log.info({ drained: batch.length, left: pending() - batchLines, records: named(batch) }, 'spooled call records written to the database');
      }
      done(batchLines, batchBytes);
      gauge.set(pending());
      batch = [];
      batchLines = 0;
      batchBytes = 0;
    };
    for await (const line of lines) {
      if (stopped) return;
      batchLines++;
      batchBytes += Buffer.byteLength(line) + 1;
      const record = parseLine(line);
      if (record) batch.push(record);
      else if (line.trim()) o.log.error({ line, file }, 'unreadable line in the CDR spool (a write torn by a crash?): skipped; it is logged here whole');
      if (batchLines >= batchSize) await flush();
    }
    await flush();
  }

  async function insertDrainingFile(): Promise<void> {
    const stream = createReadStream(drainingPath, { start: drainingOffset });
    const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
    try {
      await insertLines(lines, drainingPath, (n, bytes) => {
        drainingOffset += bytes;
        drainingLines = Math.max(0, drainingLines - n);
      });
    } finally {
      lines.close();
      stream.destroy();
    }
  }

  /** Records written into the reserve on a full disk; its bytes are newlines again once all are in. */
  async function drainReserve(r: SpoolReserve): Promise<void> {
    await insertLines(await r.unread(), reservePath, (n, bytes) => r.taken(n, bytes));
    if (!stopped) await exclusive(() => r.resetIfDrained());
  }

  /** Drains until both files are empty; throws when an insert fails (the rest stays on disk). */
  async function drainAll(): Promise<void> {
    for (;;) {
      if (!drainingExists) {
        if (!activeLines) {
          if (!reserve?.pending) return;
          await drainReserve(reserve);
          if (stopped) return;
          continue;
        }
        await exclusive(async () => {
          await rename(activePath, drainingPath);
          drainingExists = true;
          drainingLines = activeLines;
          drainingOffset = 0;
          activeLines = 0;
          await syncDir(o.dir);
        });
      }
      await insertDrainingFile();
      if (stopped) return;
      await removeDurably(drainingPath);
      drainingExists = false;
      drainingLines = 0;
      drainingOffset = 0;
      gauge.set(pending());
    }
  }

  function attempt(): Promise<void> {
    if (running) return running;
    if (timer) clearTimeout(timer);
    timer = undefined;
    running = drainAll()
      .then(
        () => {
          if (failedAttempts && !stopped) o.log.warn({ afterAttempts: failedAttempts }, 'CDR spool drained: the database takes records again');
          failedAttempts = 0;
        },
        (err: unknown) => {
          drainFailures.inc();
          failedAttempts++;
          const delay = Math.min(retryMaxMs, retryBaseMs * 2 ** (failedAttempts - 1)) * (0.5 + Math.random() / 2);
          o.log.warn({ err, spooled: pending(), attempt: failedAttempts, retryInMs: Math.round(delay) }, 'CDR spool: database still failing; records stay on disk');
          schedule(delay);
          throw err;
        },
      )
      .finally(() => {
        running = undefined;
        // Records appended while this attempt ran, after it last looked.
        if (pending() && !timer && !stopped) schedule(0);
      });
    return running;
  }

  function schedule(ms: number): void {
    if (timer || stopped) return;
    timer = setTimeout(() => {
      timer = undefined;
      void attempt().catch(() => {});
    }, ms);
  }

  if (pending()) {
    o.log.warn({ spooled: pending(), dir: o.dir }, 'call records left in the CDR spool by an earlier run: writing them to the database');
    schedule(0);
  }

  return {
    get pending() {
      return pending();
    },
    append: async (records) => {
      if (!records.length) return;
      const data = jsonLines(records);
      await exclusive(async () => {
        try {
          await appendDurably(activePath, data);
          activeLines += records.length;
          diskFull = false;
        } catch (err) {
          o.onDiskFailure?.(err, 'the CDR spool');
          if (NO_SPACE.has((err as NodeJS.ErrnoException).code ?? '') && (await reserve?.write(Buffer.from(data), records.length))) {
            if (!diskFull)
              o.log.error({ err, file: reservePath, reserveBytes: reserve!.size }, 'the disk is full: call records go into the space set aside for them until it has room again');
            diskFull = true;
            return;
          }
          writeFailures.inc();
          o.log.error({ err, records: named(records), file: activePath }, 'could not write call records to the CDR spool');
          throw err;
        }
      });
      appended.inc(records.length);
      gauge.set(pending());
      o.log.warn({ spooled: records.length, pending: pending(), file: activePath, records: named(records) }, 'call records spooled to disk until the database answers');
      // While an attempt backs off, its timer decides when to probe the database again.
      if (!running) schedule(0);
    },
    drain: async () => {
      while (pending() && !stopped) await attempt();
    },
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await running?.catch(() => {});
      // Appends still queued finish before the reserve closes under them.
      await exclusive(async () => {});
      await reserve?.close();
      if (pending()) o.log.warn({ spooled: pending(), dir: o.dir }, 'CDR spool not empty at shutdown: it is written at the next start');
    },
  };
}
