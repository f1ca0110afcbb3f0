/**
 * Whether this node can persist what it must keep on its own disk (DATA_DIR: the SQLite file, the
 * CDR spool, the registration journal, the local snapshot). A full disk is otherwise invisible:
 * writes fail one by one while the node looks healthy. Two signals:
 *
 * - the free space of DATA_DIR's file system (statfs, space available to ordinary writers), below
 *   `minFreeBytes` counts as full before anything fails;
 * - a write a subsystem reports as failed for lack of space or a broken disk (`reportFailure`),
 *   which holds until a probe write (a small file written, fsynced and removed) succeeds again.
 *
 * Readiness (`/readyz`) reads `canPersist`; a gauge and one log line say when it changes, one line
 * when it recovers, never one per failed write.
 */
import { open, rm, statfs } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';

/** Errors that mean the disk, not the data, is the problem. */
const DISK_CODES = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EIO']);

export function isDiskFailure(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && (DISK_CODES.has(code) || code === 'SQLITE_FULL' || code === 'SQLITE_IOERR' || code.startsWith('SQLITE_IOERR_'));
}

export interface DataDirHealthOptions {
  dir: string;
  minFreeBytes: number;
  log: Logger;
  registry?: Registry;
  /** How often free space is read (and, after a failure, a probe written). */
  intervalMs?: number;
}

export interface DataDirHealth {
  /** False while DATA_DIR is short of space or a write to it failed and no probe has succeeded since. */
  readonly canPersist: boolean;
  /** Why not, in words (undefined while it can). */
  readonly problem: string | undefined;
  /** A write to DATA_DIR failed: counts if it failed for a disk reason (isDiskFailure). */
  reportFailure(err: unknown, what: string): void;
  /** Reads the disk now (what the interval does). */
  check(): Promise<void>;
  stop(): void;
}

export function startDataDirHealth(o: DataDirHealthOptions): DataDirHealth {
  const registers = o.registry ? [o.registry] : [];
  const canPersistGauge = new Gauge({
    name: 'data_dir_can_persist',
    help: '1 while the data directory takes writes and has the configured free space, else 0 (the node is not ready)',
    registers,
  });
  const freeGauge = new Gauge({ name: 'data_dir_free_bytes', help: "Space available in the data directory's file system", registers });
  canPersistGauge.set(1);

  let freeBytes = Infinity;
  let failure: { what: string; code: string | undefined } | undefined;
  let problem: string | undefined;
  let since = 0;
  let checking: Promise<void> | undefined;

  const evaluate = () => {
    const now =
      failure !== undefined
        ? `writing ${failure.what} failed (${failure.code ?? 'error'}); the data directory does not take writes`
        : freeBytes < o.minFreeBytes
          ? `the data directory's disk is full: ${freeBytes} bytes free, below DATA_DIR_MIN_FREE_MB (${o.minFreeBytes} bytes)`
          : undefined;
    if (now && !problem) {
      since = Date.now();
      o.log.error(
        { dir: o.dir, freeBytes, minFreeBytes: o.minFreeBytes, failure },
        `cannot persist to the data directory: ${now}; not ready until it can (call records go to the reserved spool space)`,
      );
    } else if (!now && problem) {
      o.log.info({ dir: o.dir, freeBytes, forMs: Date.now() - since }, 'the data directory takes writes again: ready');
    }
    problem = now;
    canPersistGauge.set(problem ? 0 : 1);
  };

  /** A small write, fsynced and removed: the disk takes writes again. */
  const probe = async () => {
    const file = path.join(o.dir, `.persist-probe-${process.pid}`);
    const fh = await open(file, 'w');
    try {
      await fh.writeFile(Buffer.alloc(4096, 10));
      await fh.sync();
    } finally {
      await fh.close();
      await rm(file, { force: true });
    }
  };

  const check = () =>
    (checking ??= (async () => {
      try {
        const s = await statfs(o.dir);
        freeBytes = Number(s.bavail) * Number(s.bsize);
        freeGauge.set(freeBytes);
        if (failure && freeBytes >= o.minFreeBytes) {
          await probe();
          failure = undefined;
        }
      } catch (err) {
        if (!failure && isDiskFailure(err)) failure = { what: 'a probe file', code: (err as { code?: string }).code };
      }
      evaluate();
    })().finally(() => (checking = undefined)));

  const timer = setInterval(() => void check(), o.intervalMs ?? 2000);
  timer.unref();
  void check();

  return {
    get canPersist() {
      return problem === undefined;
    },
    get problem() {
      return problem;
    },
    reportFailure(err, what) {
      if (!isDiskFailure(err)) return;
      failure ??= { what, code: (err as { code?: string }).code };
      evaluate();
    },
    check,
    stop: () => clearInterval(timer),
  };
}
