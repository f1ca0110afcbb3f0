/**
 * Registration changes the database could not take, on local disk (JSON lines, DATA_DIR/spool/
 * registrations.jsonl) so that a switch restarted during a database outage still knows the phones
 * that registered meanwhile and writes them when the database answers. The location overlay
 * appends a REGISTER's deferred changes before the REGISTER is answered, and after each round of
 * writing them to the database it rewrites the journal to what is still pending (no file at the end).
 * Replaying a change that did reach the database is harmless: it is written only over an older
 * binding of its contact.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { appendDurably, endTornLine, jsonLines, oneAtATime, readLines, removeDurably, replaceDurably } from './durableFile.ts';
import type { PendingWrite } from './registrations.ts';

export const LOCATION_JOURNAL_FILE = 'registrations.jsonl';

export interface LocationJournal {
  /** The changes an earlier run left pending, oldest first (a later line of a contact supersedes an earlier one). */
  readonly leftover: readonly PendingWrite[];
  /** Appends and fsyncs; rejects (the file as it was) if the disk fails. */
  append(writes: readonly PendingWrite[]): Promise<void>;
  /** Makes the journal hold exactly `pending()`, read when this call's turn comes after earlier appends. */
  rewrite(pending: () => readonly PendingWrite[]): Promise<void>;
}

/** A journal line back into a change; null for a line that is not one (a write torn by a crash). */
function parseLine(line: string): PendingWrite | null {
  try {
    const w = JSON.parse(line) as Partial<PendingWrite> | null;
    const b = w?.binding;
    const bindingOk =
      !!b &&
      typeof b.id === 'string' &&
      typeof b.tenantId === 'string' &&
      typeof b.accountId === 'string' &&
      typeof b.contactHash === 'string' &&
      typeof b.contactUri === 'string' &&
      typeof b.expiresAt === 'number' &&
      typeof b.updatedAt === 'number';
    if (bindingOk && w.kind === 'upsert') return w as PendingWrite;
    if (bindingOk && w.kind === 'remove' && typeof w.at === 'number') return w as PendingWrite;
  } catch {
    /* falls through */
  }
  return null;
}

export async function openLocationJournal(dir: string, log: Logger): Promise<LocationJournal> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, LOCATION_JOURNAL_FILE);
  /** Whether the file holds any line (then a rewrite must touch it, even to empty it). */
  let onDisk = (await endTornLine(file)) > 0;
  const leftover: PendingWrite[] = [];
  for (const line of onDisk ? await readLines(file) : []) {
    const write = parseLine(line);
    if (write) leftover.push(write);
    else if (line.trim()) log.error({ line, file }, 'unreadable line in the registration journal (a write torn by a crash?): skipped; it is logged here whole');
  }

  const exclusive = oneAtATime();

  return {
    leftover,
    append: (writes) =>
      exclusive(async () => {
        if (!writes.length) return;
        await appendDurably(file, jsonLines(writes));
        onDisk = true;
      }),
    rewrite: (pending) =>
      exclusive(async () => {
        const writes = pending();
        // Nothing on disk and nothing pending: the common case after an outage ends, no I/O.
        if (!onDisk && !writes.length) return;
        // Nothing pending: no file, as the CDR spool leaves none once drained.
        if (writes.length) await replaceDurably(file, jsonLines(writes));
        else await removeDurably(file);
        onDisk = writes.length > 0;
      }),
  };
}
