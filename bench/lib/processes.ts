/** Child processes of a bench: bounded waits, output into files, none left behind. */
import type { ChildProcess } from 'node:child_process';
import type { WriteStream } from 'node:fs';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every process a bench starts through track(), so an exception or Ctrl-C cannot leave one behind. */
const live = new Set<ChildProcess>();

/** SIGKILLs (by PID) every tracked process still running. */
export const killAll = () => {
  for (const c of live) if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
};
process.once('exit', killAll);

export function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Resolves with the exit code; SIGTERM after `ms`, SIGKILL 5 s later (as `timeout -k 5`), by PID. */
export function bounded(child: ChildProcess, ms: number): Promise<number | null> {
  return new Promise((resolve) => {
    let kill: NodeJS.Timeout | undefined;
    const term = setTimeout(() => {
      if (child.pid) process.kill(child.pid, 'SIGTERM');
      kill = setTimeout(() => child.pid && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 5000);
    }, ms);
    const done = (code: number | null) => {
      clearTimeout(term);
      clearTimeout(kill);
      resolve(code);
    };
    if (child.exitCode !== null || child.signalCode !== null) done(child.exitCode);
    else child.once('exit', done);
  });
}

/** Both output streams into one file, closed once the child and its pipes are done. */
export function teeInto(child: ChildProcess, file: WriteStream): void {
  child.stdout!.pipe(file, { end: false });
  child.stderr!.pipe(file, { end: false });
  child.once('close', () => file.end());
}
