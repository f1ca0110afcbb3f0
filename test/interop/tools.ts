/**
 * Running third-party SIP tools (sipp, baresip) from tests: finding them, bounding them in time,
 * reading what they report.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import dgram from 'node:dgram';
import net from 'node:net';
import path from 'node:path';

const inCi = Boolean(process.env.CI) && process.env.CI !== 'false';

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      accessSync(path.join(dir, tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * A reason to skip tests that drive `tool`, or false when it is installed. A missing tool is
 * announced on stderr so a green run cannot hide that the interop tests did not run; in CI it is
 * an error, because there `.ci/run` installs the tools.
 */
export function skipWithout(tool: string, aptPackage: string): string | false {
  if (onPath(tool)) return false;
  const reason = `'${tool}' is not on PATH (apt-get install ${aptPackage})`;
  if (inCi) throw new Error(`CI needs ${reason}`);
  console.warn(`SKIPPING ${tool} interop tests: ${reason}`);
  return reason;
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Resolves when the child exits; after `ms` it gets SIGTERM, and SIGKILL 3 s later. */
export function exitOf(child: ChildProcess, ms: number, output: () => string): Promise<Finished> {
  return new Promise((resolve) => {
    let kill: NodeJS.Timeout | undefined;
    const term = setTimeout(() => {
      child.kill('SIGTERM');
      kill = setTimeout(() => child.kill('SIGKILL'), 3000);
    }, ms);
    child.once('exit', (code, signal) => {
      clearTimeout(term);
      clearTimeout(kill);
      resolve({ code, signal, output: output() });
    });
  });
}

/** Starts `cmd`, collecting stdout and stderr together. */
export function startTool(cmd: string, args: string[], cwd: string): { child: ChildProcess; output: () => string } {
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

/** Runs `cmd` to completion, killing it after `ms`. */
export function runTool(cmd: string, args: string[], cwd: string, ms: number): Promise<Finished> {
  const { child, output } = startTool(cmd, args, cwd);
  return exitOf(child, ms, output);
}

/** The last row of a sipp `-stf` statistics file, keyed by column name. */
export function lastSippStats(file: string): Record<string, string> {
  const lines = readFileSync(file, 'latin1')
    .split('\n')
    .filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').split(';');
  const last = (lines.at(-1) ?? '').split(';');
  return Object.fromEntries(header.map((h, i) => [h, last[i] ?? '']));
}

/** Whether `port` can be bound for UDP and listened on for TCP on 127.0.0.1 right now. */
async function bindable(port: number): Promise<boolean> {
  const udp = dgram.createSocket('udp4');
  const udpFree = await new Promise<boolean>((resolve) => {
    udp.once('error', () => resolve(false));
    udp.bind(port, '127.0.0.1', () => resolve(true));
  });
  const tcpFree =
    udpFree &&
    (await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    }));
  await new Promise<void>((resolve) => udp.close(() => resolve()));
  return tcpFree;
}

/**
 * The ports test peers take: just below the kernel's ephemeral range (ip_local_port_range), which
 * is where every socket bound to port 0 and every outgoing connection of any process gets its port.
 * A peer's port taken from that range was free when asked but could be taken before the peer bound
 * it (a test in another process connecting to MariaDB: sipp then failed with "Address already in
 * use"); below it only another test picking the same number at the same moment can collide.
 */
function testPortRange(): { from: number; to: number } {
  let ephemeralFrom = 32768;
  try {
    ephemeralFrom = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || ephemeralFrom;
  } catch {
    // Not Linux: the usual default.
  }
  return ephemeralFrom > 11024 ? { from: ephemeralFrom - 10000, to: ephemeralFrom } : { from: 50000, to: 60000 };
}
const TEST_PORTS = testPortRange();
/** Ports this process has handed out: never handed out twice. */
const handedOut = new Set<number>();

/** A port that is free for both UDP and TCP on 127.0.0.1 at the time of asking, outside the ephemeral range. */
export async function freeUdpTcpPort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = TEST_PORTS.from + Math.floor(Math.random() * (TEST_PORTS.to - TEST_PORTS.from));
    if (handedOut.has(port) || !(await bindable(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no port free for UDP and TCP in ${TEST_PORTS.from}-${TEST_PORTS.to} after 200 tries`);
}

/** Polls `probe` every 200 ms until it returns a value, or fails after `ms`. */
export async function waitFor<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
