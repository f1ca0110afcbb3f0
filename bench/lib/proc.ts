/** Readings from /proc (Linux): CPU ticks, memory, UDP drops, steal time. */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** Clock ticks per second, the unit of the CPU times in /proc/<pid>/stat and /proc/stat. */
export const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** The live children of a process (every thread's), empty once it is gone. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const kids = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      for (const k of kids ? kids.split(' ') : []) out.push(Number(k));
    }
  } catch {
    /* gone */
  }
  return out;
}

/** utime+stime (clock ticks) of a process, and cutime+cstime: what its exited, reaped children used. */
export function procTicks(pid: number): { own: number; reaped: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { own: Number(f[11]) + Number(f[12]), reaped: Number(f[13]) + Number(f[14]) };
  } catch {
    return { own: 0, reaped: 0 };
  }
}

export const ownTicks = (pid: number) => procTicks(pid).own;

/** utime+stime (clock ticks) of a process and all its live descendants; 0 once it is gone. */
export function treeTicks(pid: number): number {
  return ownTicks(pid) + childrenOf(pid).reduce((s, k) => s + treeTicks(k), 0);
}

/**
 * utime+stime (clock ticks) of the switch's main process and, separately, of its descendants (the
 * dialplan workers), counting workers that were recycled or died (reaped) as well as live ones.
 */
export function switchTicks(pid: number): { main: number; workers: number } {
  const tree = (p: number): number => {
    const t = procTicks(p);
    return t.own + t.reaped + childrenOf(p).reduce((s, k) => s + tree(k), 0);
  };
  const t = procTicks(pid);
  return { main: t.own, workers: t.reaped + childrenOf(pid).reduce((s, k) => s + tree(k), 0) };
}

/** A `kB` field of /proc/<pid>/status (VmRSS, VmHWM, ...); 0 once the process is gone. */
export function statusKb(pid: number, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export const rssMb = (pid: number) => statusKb(pid, 'VmRSS') / 1024;

/** Proportional set size (shared pages split between their users) in KB; 0 once the process is gone. */
export function pssKb(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** UDP receive-buffer overflows, system-wide: datagrams the kernel dropped before anyone read them. */
export function udpDrops(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('Udp:'));
  return Number(lines[1]?.split(/\s+/)[5] ?? 0);
}

/** Steal time of all CPUs (clock ticks) since boot: what the hypervisor gave to others. */
export function stealTicks(): number {
  return Number(readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/)[8] ?? 0);
}

/**
 * Whether any UDP socket on this machine is bound to `port`, read from /proc/net/udp{,6}. Binding
 * the port to find out would race with a process about to bind it (sipp starting then fails with
 * "Address already in use"); reading the kernel's table cannot.
 */
export function udpPortBound(port: number): boolean {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let table: string;
    try {
      table = readFileSync(file, 'utf8');
    } catch {
      continue; // No IPv6 on this kernel.
    }
    for (const line of table.split('\n').slice(1)) {
      const local = line.trim().split(/\s+/)[1];
      if (local?.endsWith(hex)) return true;
    }
  }
  return false;
}

/** Datagrams dropped on the UDP sockets bound to ports `min`..`max` (the last column of /proc/net/udp), while they are open. */
export function udpDropsOnPorts(min: number, max: number): number {
  let drops = 0;
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    const port = parseInt(f[1]?.split(':')[1] ?? '', 16);
    if (port >= min && port <= max) drops += Number(f.at(-1) ?? 0);
  }
  return drops;
}
