import { readdirSync, readFileSync } from 'node:fs';

/** CPU (ms) each thread of this process has run, descheduled time excluded; by thread id. */
export type ThreadCpu = ReadonlyMap<number, number>;

const TASKS = '/proc/self/task';
const MAIN_THREAD = process.pid;

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
  for (const tid of tids) {
    const id = Number(tid);
    if (id === MAIN_THREAD) continue;
    try {
      sample.set(id, Number(readFileSync(`${TASKS}/${tid}/schedstat`, 'latin1').split(' ', 1)[0]) / 1e6);
    } catch {
      // The thread ended between listing and reading.
    }
  }
  return sample;
}

/**
 * The most CPU any one thread ran between two samples. A thread missing from `since` started
 * after it, so all of its CPU counts: isolated-vm runs an isolate on a new, short-lived thread
 * when its pool threads are all busy, and a busy loop that landed on one was never stopped.
 */
export function busiestThreadMs(since: ThreadCpu, now: ThreadCpu): number {
  let most = 0;
  for (const [tid, ms] of now) most = Math.max(most, ms - (since.get(tid) ?? 0));
  return most;
}
