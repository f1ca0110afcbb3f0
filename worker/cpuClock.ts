import { closeSync, openSync, readdirSync, readSync } from 'node:fs';

/** CPU (ms) each thread of this process has run, descheduled time excluded; by thread id. */
export type ThreadCpu = ReadonlyMap<number, number>;

const TASKS = '/proc/self/task';
const MAIN_THREAD = process.pid;
/**
 * Open schedstat files by thread id, read again from offset 0 at every sample (procfs makes the
 * text anew): opening and closing each file at every watchdog tick cost ~0.1 ms per sample.
 */
const schedstats = new Map<number, number>();
const text = Buffer.alloc(128);

/**
 * Samples the CPU of every thread but the main one (isolates never run there) from schedstat,
 * which counts nanoseconds actually on a CPU. Without /proc (not Linux) the whole process counts
 * as one thread: a looser upper bound.
 */
export function sampleThreadCpu(): ThreadCpu {
  const sample = new Map<number, number>();
  let tids: string[];
  try {
    tids = readdirSync(TASKS);
  } catch {
    const usage = process.cpuUsage();
    return sample.set(0, (usage.user + usage.system) / 1000);
  }
  const listed = new Set<number>();
  for (const tid of tids) {
    const id = Number(tid);
    if (id === MAIN_THREAD) continue;
    listed.add(id);
    const ms = threadCpuMs(id);
    if (ms !== null) sample.set(id, ms);
  }
  for (const [id, fd] of schedstats) {
    if (listed.has(id)) continue;
    closeSync(fd);
    schedstats.delete(id);
  }
  return sample;
}

/** Null when the thread has ended (its id may come back for a new thread: that one is opened anew). */
function threadCpuMs(id: number): number | null {
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd = schedstats.get(id);
    try {
      if (fd === undefined) {
        fd = openSync(`${TASKS}/${id}/schedstat`, 'r');
        schedstats.set(id, fd);
      }
      const length = readSync(fd, text, 0, text.length, 0);
      if (length > 0) return Number(text.toString('latin1', 0, length).split(' ', 1)[0]) / 1e6;
    } catch {
      // Ended between listing and reading, or the file belonged to an ended thread of this id.
    }
    if (fd !== undefined) closeSync(fd);
    schedstats.delete(id);
  }
  return null;
}

/**
 * The most CPU any one thread ran between two samples. A thread missing from `since` started
 * after it, so all of its CPU counts: isolated-vm runs an isolate on a new, short-lived thread
 * when its pool threads are all busy, and a busy loop that landed on one was never stopped.
 */
export function busiestThreadMs(since: ThreadCpu, now: ThreadCpu, among?: ReadonlySet<number>): number {
  let most = 0;
  for (const [tid, ms] of now) if (!among || among.has(tid)) most = Math.max(most, ms - (since.get(tid) ?? 0));
  return most;
}

/** The threads that ran more than `budgetMs` between two samples (counted as in `busiestThreadMs`). */
export function threadsOver(since: ThreadCpu, now: ThreadCpu, budgetMs: number): Set<number> {
  const over = new Set<number>();
  for (const [tid, ms] of now) if (ms - (since.get(tid) ?? 0) > budgetMs) over.add(tid);
  return over;
}
