/**
 * A small tmpfs the test mounts itself: a real file system that really fills up (ENOSPC), for
 * tests of a full disk. Mounting needs root (or CAP_SYS_ADMIN); without it those tests skip,
 * saying so, except under CI=true, where they fail.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const inCi = Boolean(process.env.CI) && process.env.CI !== 'false';

export interface Tmpfs {
  dir: string;
  /** Writes a file until the file system is full (ENOSPC); returns its path. */
  fill(): string;
  /** Unmounts and removes the mount point. */
  remove(): void;
}

/** Mounts a tmpfs of `sizeMb`; a string is the reason it could not (announced on stderr). */
export function mountTmpfs(sizeMb: number): Tmpfs | string {
  const dir = mkdtempSync(path.join(tmpdir(), 'sipswitch-tmpfs-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=0700`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    const reason = `cannot mount a tmpfs for a full-disk test (mount -t tmpfs needs root or CAP_SYS_ADMIN): ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`;
    if (inCi) throw new Error(`CI needs to ${reason}`);
    console.warn(`SKIPPING full-disk tests: ${reason}`);
    return reason;
  }
  return {
    dir,
    fill() {
      const file = path.join(dir, 'filler');
      const fd = openSync(file, 'a');
      const chunk = Buffer.alloc(64 * 1024, 120);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
      // The last partial chunk: down to the last byte.
      try {
        for (;;) writeSync(fd, chunk, 0, 1);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      } finally {
        closeSync(fd);
      }
      return file;
    },
    remove() {
      spawnSync('umount', [dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
