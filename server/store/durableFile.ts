/**
 * Local files that must survive a crash of the switch: the CDR spool and the journal of
 * registration changes made during a database outage. An append returns once its bytes and, for a
 * new file, the directory entry are on disk; a crash mid-append leaves at most one torn last line,
 * which `endTornLine` closes at the next start so that only that line is unreadable.
 */
import { createReadStream } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';

/**
 * Runs the functions it is given one after another, each once the previous has settled, so that
 * appends, renames and rewrites of one file never interleave.
 */
export function oneAtATime(): <T>(fn: () => Promise<T>) => Promise<T> {
  let turn: Promise<unknown> = Promise.resolve();
  return (fn) => {
    const run = turn.then(fn);
    turn = run.catch(() => {});
    return run;
  };
}

/** Items as JSON lines, each ended by a newline. */
export const jsonLines = (items: readonly unknown[]): string => items.map((item) => `${JSON.stringify(item)}\n`).join('');

export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Appends `data` and fsyncs; on failure the file is cut back to where it was (or removed, if it was empty), so no partial line stays. */
export async function appendDurably(file: string, data: string): Promise<void> {
  let fh: FileHandle | undefined;
  let size = 0;
  try {
    fh = await open(file, 'a');
    size = (await fh.stat()).size;
    await fh.writeFile(data);
    await fh.sync();
    if (size === 0) await syncDir(path.dirname(file));
  } catch (err) {
    await fh?.truncate(size).catch(() => {});
    await fh?.close();
    fh = undefined;
    // A file this append created (a full disk still gives out inodes) is not left behind empty.
    if (size === 0) await rm(file, { force: true }).catch(() => {});
    throw err;
  } finally {
    await fh?.close();
  }
}

/** Replaces `file` with `data` all at once (a temporary file, fsynced, renamed over it); a new file gets `mode`. */
export async function replaceDurably(file: string, data: string, mode?: number): Promise<void> {
  const temporary = `${file}.new`;
  const fh = await open(temporary, 'w', mode);
  try {
    // A temporary file left by a crash keeps its old mode otherwise.
    if (mode !== undefined) await fh.chmod(mode);
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(temporary, file);
  await syncDir(path.dirname(file));
}

/** Removes `file` (if it is there) and makes the removal durable. */
export async function removeDurably(file: string): Promise<void> {
  await rm(file, { force: true });
  await syncDir(path.dirname(file));
}

/** Lines in a file, and whether its last byte ends a line (0 and true for a missing file). */
export async function countLines(file: string): Promise<{ lines: number; endsWithNewline: boolean }> {
  let lines = 0;
  let last = 10;
  try {
    for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
      for (const byte of chunk) if (byte === 10) lines++;
      last = chunk[chunk.length - 1] ?? last;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { lines: 0, endsWithNewline: true };
    throw err;
  }
  return { lines: last === 10 ? lines : lines + 1, endsWithNewline: last === 10 };
}

/** Ends a line torn by a crash, so the next append starts a line of its own; returns the file's line count. */
export async function endTornLine(file: string): Promise<number> {
  const { lines, endsWithNewline } = await countLines(file);
  if (!endsWithNewline) await appendDurably(file, '\n');
  return lines;
}

/** Every line of a file (none for a missing file). */
export async function readLines(file: string): Promise<string[]> {
  const lines: string[] = [];
  const stream = createReadStream(file);
  const reader = readline.createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const line of reader) lines.push(line);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  } finally {
    reader.close();
    stream.destroy();
  }
  return lines;
}
