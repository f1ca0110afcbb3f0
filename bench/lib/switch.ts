/** The switch under test, run in its own process as `npm start` runs it. */
import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLK_TCK } from './proc.ts';
import { bounded, sleep, teeInto, track } from './processes.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface RunningServer {
  pid: number;
  stop(): Promise<void>;
}

/** The switch's environment for a bench: everything on 127.0.0.1, sqlite or MySQL at `databaseUrl`, quiet logs. */
export function switchEnv(o: { sipPort: number; httpPort: number; dataDir: string; databaseUrl: string }) {
  return {
    SIP_HOST: '127.0.0.1',
    SIP_PORT: String(o.sipPort),
    SIP_DOMAIN: '127.0.0.1',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: String(o.httpPort),
    DATA_DIR: o.dataDir,
    DATABASE_URL: o.databaseUrl,
    LOG_LEVEL: 'warn',
    LOG_PRETTY: 'false',
    // TLS and HTTPS on free ports: switches run side by side (a self-signed certificate in DATA_DIR).
    SIP_TLS_PORT: '0',
    HTTPS_PORT: '0',
    // The sipp peers run on loopback, which tenants may not reach by default.
    DESTINATION_DENY: 'none',
    // One sipp source and one tenant carry the whole load: the per-source flood limit and the
    // per-tenant calls-per-minute cap would measure themselves, not the switch.
    SIP_UNAUTHENTICATED_PER_SECOND: '0',
    CALLS_PER_MINUTE_PER_TENANT: '1000000',
    STRANGER_CALLS_PER_SOURCE: '1000000',
    STRANGER_CALLS_PER_TENANT: '1000000',
    SIP_INVITES_PER_MINUTE_PER_SOURCE: '100000000',
  };
}

/**
 * Starts the switch as `npm start` does and waits until /readyz answers on env.HTTP_PORT. Its output
 * goes to `logFile` (appended to with `o.append`); `o.inspectPort` enables its inspector on 127.0.0.1.
 * PROFILE_DIR=dir writes a V8 CPU profile of the switch there (open it in Chrome DevTools).
 */
export async function startServer(
  env: Record<string, string> & { HTTP_PORT: string },
  logFile: string,
  o: { inspectPort?: number; append?: boolean } = {},
): Promise<RunningServer> {
  const log = createWriteStream(logFile, o.append ? { flags: 'a' } : {});
  const profile = process.env.PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.PROFILE_DIR)}`] : [];
  const inspect = o.inspectPort ? [`--inspect=127.0.0.1:${o.inspectPort}`] : [];
  // Tracked: should the bench die (an exception, Ctrl-C), the switch must not outlive it.
  const child = track(
    spawn(process.execPath, [...profile, ...inspect, '--import', 'tsx', 'server/main.ts'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  teeInto(child, log);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGTERM');
    await bounded(child, 15_000);
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`the switch exited with ${child.exitCode} while starting; see ${logFile}:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
    }
    try {
      if ((await fetch(`http://127.0.0.1:${env.HTTP_PORT}/readyz`)).ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the switch was not ready within 30 s; see ${logFile}`);
    }
    await sleep(200);
  }
  return { pid: child.pid!, stop };
}

/** The switch's /metrics as name → value (the unlabelled ones); empty if it does not answer. */
export async function metrics(httpPort: number): Promise<Record<string, number>> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const out: Record<string, number> = {};
    for (const m of text.matchAll(/^([a-z_]+) (\S+)$/gm)) out[m[1]!] = Number(m[2]);
    return out;
  } catch {
    return {};
  }
}

/**
 * Waits (at most `ms`) until the switch is idle again (under 0.05 s of CPU in a second, by `ticks`),
 * so one step's leftovers do not hit the next.
 */
export async function drain(pid: number, ticks: (pid: number) => number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const t0 = ticks(pid);
    await sleep(1000);
    if ((ticks(pid) - t0) / CLK_TCK < 0.05) return;
  }
  console.log(`# note: the switch was still busy after ${ms / 1000} s`);
}
