/**
 * Disk space set aside for call records, so that they reach the disk even when it is full: a file
 * of newlines (`cdrs.reserve`, CDR_SPOOL_RESERVE_MB) written once, whose bytes records
 * overwrite in place when an append to the spool fails for lack of space. Overwriting blocks a
 * file already owns needs no new ones (true of ext4, xfs and tmpfs; not of copy-on-write file
 * systems such as btrfs or ZFS, where the reserve does not help).
 *
 * The file is always valid JSON lines: records from the start, then empty lines. A record never
 * holds a raw newline (JSON escapes it), so the first empty line marks the end of what was written.
 * Once the database has taken every record in it, those bytes are turned back into newlines.
 */
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { syncDir } from '../store/durableFile.ts';

export const RESERVE_FILE = 'cdrs.reserve';
const NEWLINE = 10;
const CHUNK = 1024 * 1024;

export interface SpoolReserve {
  /** Bytes set aside. */
  readonly size: number;
  /** Records written into it and not yet taken by the database. */
  readonly pending: number;
  /** Writes `data` (`lines` JSON lines) into the reserve and fsyncs; false (nothing written) when it does not fit. */
  write(data: Buffer, lines: number): Promise<boolean>;
  /** The lines written and not yet taken. */
  unread(): Promise<string[]>;
  /** The database took the next `lines` lines (`bytes` bytes) of what `unread` returned. */
  taken(lines: number, bytes: number): void;
  /** When everything written was taken, makes those bytes newlines again (no new space needed). */
  resetIfDrained(): Promise<void>;
  close(): Promise<void>;
}

/** Where the written part ends (the first empty line) and how many lines it holds. */
async function scan(fh: FileHandle, size: number): Promise<{ used: number; lines: number }> {
  const buf = Buffer.alloc(CHUNK);
  let lines = 0;
  // The start of the file counts as just after a newline: a file starting with one holds nothing.
  let previous = NEWLINE;
  for (let at = 0; at < size;) {
    const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, size - at), at);
    if (!bytesRead) break;
    for (let i = 0; i < bytesRead; i++) {
      const byte = buf[i]!;
      if (byte === NEWLINE) {
        if (previous === NEWLINE) return { used: at + i, lines };
        lines++;
      }
      previous = byte;
    }
    at += bytesRead;
  }
  return { used: size, lines };
}

/**
 * Opens the reserve in `dir`, growing it to `bytes` (it never shrinks: records may be in it). With
 * `bytes` 0 and no file there is no reserve. A disk too full to grow it leaves it smaller (logged).
 */
export async function openSpoolReserve(dir: string, bytes: number, log: Logger): Promise<SpoolReserve | undefined> {
  const file = path.join(dir, RESERVE_FILE);
  let fh: FileHandle;
  try {
    fh = await open(file, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || bytes === 0) {
      if (bytes) throw err;
      return undefined;
    }
    fh = await open(file, 'w+', 0o600);
    await syncDir(dir);
  }
  let size = (await fh.stat()).size;
  try {
    const filler = Buffer.alloc(Math.min(CHUNK, Math.max(0, bytes - size)), NEWLINE);
    while (size < bytes) {
      const n = Math.min(filler.length, bytes - size);
      await fh.write(filler, 0, n, size);
      size += n;
    }
    await fh.sync();
  } catch (err) {
    size = (await fh.stat()).size;
    log.error({ err, file, wanted: bytes, have: size }, 'cannot set aside the full CDR spool reserve (disk full?): records reach the disk on a full disk only as far as it goes');
  }
  let { used, lines } = await scan(fh, size);
  let drainedTo = 0;
  let drainedLines = 0;

  return {
    get size() {
      return size;
    },
    get pending() {
      return lines - drainedLines;
    },
    async write(data, n) {
      if (used + data.length > size) return false;
      await fh.write(data, 0, data.length, used);
      await fh.datasync();
      used += data.length;
      lines += n;
      return true;
    },
    async unread() {
      const length = used - drainedTo;
      if (!length) return [];
      const buf = Buffer.alloc(length);
      await fh.read(buf, 0, length, drainedTo);
      return buf.toString('utf8').split('\n').slice(0, -1);
    },
    taken(n, byteCount) {
      drainedLines += n;
      drainedTo += byteCount;
    },
    async resetIfDrained() {
      if (!used || drainedTo < used) return;
      const filler = Buffer.alloc(Math.min(CHUNK, used), NEWLINE);
      for (let at = 0; at < used; at += filler.length) await fh.write(filler, 0, Math.min(filler.length, used - at), at);
      await fh.datasync();
      used = drainedTo = 0;
      lines = drainedLines = 0;
    },
    close: () => fh.close(),
  };
}
