/**
 * An rtpengine daemon the switch starts for itself: userspace forwarding (`--table=-1`, no kernel
 * module), the system's config file ignored (`--config-file=none`: the Debian one opens CLI and
 * HTTP ports), media ports from the configured range on the configured address, the ng control
 * port on loopback. Its PID is kept in a file so that a switch killed without a chance to stop it
 * stops it at its next start; it is stopped by that PID, never by name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { NgClient } from './ngClient.ts';

export interface RtpengineProcessOptions {
  binary: string;
  /** Address media sockets bind to. */
  bindAddress: string;
  /** Address written into SDP when it differs from the bound one (behind NAT). */
  advertisedAddress: string;
  portMin: number;
  portMax: number;
  /** Where rtpengine sends the DTMF events it sees (JSON over UDP), if anywhere. */
  dtmfLogDest?: string;
  /** The file holding the PID of the daemon this switch started. */
  pidFile: string;
  log: Logger;
  /** How long the daemon may take to answer its first ping. */
  startTimeoutMs?: number;
}

export class RtpengineStartError extends Error {}

/** A free UDP port on loopback for the control socket (free now; rtpengine binds it a moment later). */
async function freeLoopbackPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, '127.0.0.1', resolve);
  });
  const { port } = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export class RtpengineProcess {
  private stopping = false;
  private readonly exited: Promise<void>;
  /** A switch that exits without stopping the engine (process.exit) takes its daemon along. */
  private readonly onExit = () => {
    if (this.running) this.child.kill('SIGKILL');
  };

  private constructor(
    private readonly child: ChildProcess,
    readonly control: { host: string; port: number },
    private readonly pidFile: string,
    private readonly output: () => string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    process.once('exit', this.onExit);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  static async start(opts: RtpengineProcessOptions): Promise<RtpengineProcess> {
    await stopLeftover(opts.pidFile, opts.log);
    const controlPort = await freeLoopbackPort();
    const iface = opts.advertisedAddress === opts.bindAddress ? opts.bindAddress : `${opts.bindAddress}!${opts.advertisedAddress}`;
    const args = [
      '--config-file=none',
      '--table=-1',
      '--foreground',
      '--log-stderr',
      '--log-level=5',
      `--interface=${iface}`,
      `--listen-ng=127.0.0.1:${controlPort}`,
      `--port-min=${opts.portMin}`,
      `--port-max=${opts.portMax}`,
      '--no-fallback',
      '--endpoint-learning=immediate',
      '--delete-delay=0',
      ...(opts.dtmfLogDest ? [`--dtmf-log-dest=${opts.dtmfLogDest}`] : []),
    ];
    let child: ChildProcess;
    try {
      child = spawn(opts.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      throw missingBinary(opts.binary, err as Error);
    }
    let output = '';
    const keep = (d: Buffer) => {
      output = (output + d.toString()).slice(-8192);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const spawned = await new Promise<Error | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', (err) => resolve(err));
    });
    if (spawned) throw missingBinary(opts.binary, spawned);
    const proc = new RtpengineProcess(child, { host: '127.0.0.1', port: controlPort }, opts.pidFile, () => output);
    writeFileSync(opts.pidFile, `${child.pid}\n${controlPort}\n`);
    child.once('exit', (code, signal) => {
      if (!proc.stopping) opts.log.error({ code, signal, output: output.slice(-2000) }, 'rtpengine exited on its own: calls have no media relay');
    });
    try {
      await proc.awaitPing(opts.startTimeoutMs ?? 5000);
    } catch (err) {
      await proc.stop();
      throw new RtpengineStartError(
        `${opts.binary} did not answer on its control port 127.0.0.1:${controlPort}: ${(err as Error).message}\n${output.trim().split('\n').slice(-10).join('\n')}`,
      );
    }
    opts.log.info({ pid: child.pid, control: `127.0.0.1:${controlPort}`, ports: `${opts.portMin}-${opts.portMax}`, interface: iface }, 'rtpengine started');
    return proc;
  }

  private async awaitPing(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    const client = new NgClient({ ...this.control, retryMs: 200, attempts: 1 });
    try {
      for (;;) {
        if (!this.running) throw new Error(`it exited (${this.child.exitCode ?? this.child.signalCode})`);
        try {
          await client.request('ping');
          return;
        } catch (err) {
          if (Date.now() > deadline) throw err;
        }
      }
    } finally {
      client.close();
    }
  }

  /** The last lines rtpengine wrote. */
  recentOutput(): string {
    return this.output();
  }

  /** SIGTERM by PID, SIGKILL after `graceMs`; resolves once it has exited. */
  async stop(graceMs = 3000): Promise<void> {
    this.stopping = true;
    process.off('exit', this.onExit);
    if (this.running) {
      this.child.kill('SIGTERM');
      const kill = setTimeout(() => this.running && this.child.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(kill);
    }
    rmSync(this.pidFile, { force: true });
  }
}

function missingBinary(binary: string, err: Error): RtpengineStartError {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'not executable' : err.message;
  return new RtpengineStartError(
    `cannot start rtpengine: ${binary} ${why}. Install it (Debian: apt-get install rtpengine-daemon), point RTPENGINE_BINARY at it, set RTPENGINE_NG to one that runs elsewhere, or use MEDIA_ENGINE=embedded.`,
  );
}

/**
 * A daemon a previous run of this switch started and could not stop (it was killed): stopped by
 * its PID, but only if that PID is still an rtpengine listening on the control port we gave it.
 */
async function stopLeftover(pidFile: string, log: Logger): Promise<void> {
  if (!existsSync(pidFile)) return;
  const [pidText, portText] = readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number(pidText);
  rmSync(pidFile, { force: true });
  if (!Number.isInteger(pid) || pid <= 1) return;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return; // gone
  }
  if (!cmdline.includes('rtpengine') || !cmdline.includes(`--listen-ng=127.0.0.1:${portText}`)) return;
  log.warn({ pid }, 'stopping the rtpengine a previous run of this switch left behind');
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return; // gone meanwhile
  }
  // Its ports are free once it is gone.
  for (const deadline = Date.now() + 3000; existsSync(`/proc/${pid}`) && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 20));
  }
}
