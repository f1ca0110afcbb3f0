/**
 * The switch as its own process (`server/main.ts`, as `npm start` runs it), for tests that must
 * kill it with SIGKILL or SIGTERM and start it again on the same data, ports and node id.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeUdpTcpPort } from '../interop/tools.ts';
import { testMediaEnv } from './mediaPorts.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ProcessSwitch {
  /** Where its SQLite file (and key, spool) live. */
  dataDir: string;
  sipPort: number;
  httpUrl: string;
  readonly pid: number;
  /** Everything the current process has logged (JSON lines). */
  output(): string;
  /** SIGKILL, as a crash would: nothing is flushed or closed. */
  kill(): Promise<void>;
  /** SIGTERM; resolves with the exit code. */
  terminate(): Promise<number | null>;
  /** Starts the process again on the same data and ports; resolves when it is ready. */
  start(): Promise<void>;
  /** Stops the process (if running) and removes its data. */
  close(): Promise<void>;
}

export async function spawnSwitch(env: Record<string, string> = {}): Promise<ProcessSwitch> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'sipswitch-proc-'));
  const sipPort = await freeUdpTcpPort();
  const httpPort = await freeUdpTcpPort();
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const fullEnv = {
    ...process.env,
    SIP_HOST: '127.0.0.1',
    SIP_PORT: String(sipPort),
    SIP_DOMAIN: '127.0.0.1',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: String(httpPort),
    DATA_DIR: dataDir,
    NODE_ID: 'process-node',
    // TLS and HTTPS on free ports: switches run side by side (a self-signed certificate in DATA_DIR).
    SIP_TLS_PORT: '0',
    HTTPS_PORT: '0',
    // Test peers (sipp, providers) run on loopback, which tenants may not reach by default.
    DESTINATION_DENY: 'none',
    // sipp peers playing providers fail on an OPTIONS ping they do not expect: tests that want
    // pings ask for them.
    PROVIDER_PING_SECONDS: '3600',
    LOG_LEVEL: 'info',
    LOG_PRETTY: 'false',
    HTTP_SIGNUPS_PER_HOUR: '10000',
    HTTP_LOGINS_PER_15MIN: '10000',
    HTTP_LOGINS_PER_15MIN_PER_ADDRESS: '10000',
    // Test peers (sipp callers) are strangers calling from one address, often many at once: tests
    // of those limits set them.
    STRANGER_CALLS_PER_SOURCE: '10000',
    STRANGER_CALLS_PER_TENANT: '10000',
    SIP_INVITES_PER_MINUTE_PER_SOURCE: '1000000',
    DIALPLAN_WORKERS: '1',
    SECRET_KEY: randomBytes(24).toString('hex'),
    CREDENTIALS_KEY: randomBytes(32).toString('hex'),
    ...testMediaEnv(),
    ...env,
  };
  let child: ChildProcess | undefined;
  let out = '';
  let exited: Promise<number | null> = Promise.resolve(null);

  const start = async () => {
    out = '';
    const c = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], { cwd: ROOT, env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    exited = new Promise((resolve) => c.once('exit', (code) => resolve(code)));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (c.exitCode !== null) throw new Error(`switch exited with ${c.exitCode} while starting:\n${out.slice(-3000)}`);
      const ok = await fetch(`${httpUrl}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`switch not ready within 30 s:\n${out.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const kill = async () => {
    if (running()) child!.kill('SIGKILL');
    await exited;
  };

  await start();
  return {
    dataDir,
    sipPort,
    httpUrl,
    get pid() {
      return child!.pid!;
    },
    output: () => out,
    kill,
    terminate: async () => {
      if (running()) child!.kill('SIGTERM');
      return exited;
    },
    start,
    close: async () => {
      await kill();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
