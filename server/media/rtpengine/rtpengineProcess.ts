/**
 * An rtpengine daemon the switch starts for itself: userspace forwarding (`--table=-1`, no kernel
 * module), the system's config file ignored (`--config-file=none`: the Debian one opens CLI and
 * HTTP ports), media ports from the configured range on the configured address, the ng control
 * port on loopback. It runs in a process group of its own (a SIGTERM to the switch's group does
 * not reach it) with its output in `rtpengine.log` beside the PID file. Its PID is kept in a file
 * so that a switch killed without a chance to stop it stops it at its next start; it is stopped by
 * that PID, never by name. A switch that stops with live calls persisted leaves it running
 * (`stop({ keep: true })`, its PID and ports in `rtpengine.json`) and the next start adopts it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { closeSync, existsSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
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
  /** The file holding the PID of the daemon this switch started (rtpengine.log and rtpengine.json go beside it). */
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

/** What `rtpengine.json` says of a daemon left running for the next start. */
interface KeptDaemon {
  pid: number;
  controlPort: number;
  dtmfLogDest: string | null;
  portMin: number;
  portMax: number;
  iface: string;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The last bytes of the daemon's log file. */
function tail(file: string, bytes = 8192): string {
  try {
    const size = statSync(file).size;
    const fd = openSync(file, 'r');
    try {
      const buf = Buffer.alloc(Math.min(bytes, size));
      readSync(fd, buf, 0, buf.length, size - buf.length);
      return buf.toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return '';
  }
}

export class RtpengineProcess {
  /** The DTMF port a daemon left running for the next start sends to (rtpengine.json beside `pidFile`), if any. */
  static keptDtmfPort(pidFile: string): number {
    try {
      const kept = JSON.parse(readFileSync(path.join(path.dirname(pidFile), 'rtpengine.json'), 'utf8')) as KeptDaemon;
      return Number(kept.dtmfLogDest?.split(':')[1] ?? 0);
    } catch {
      return 0;
    }
  }

  private stopping = false;
  /** A switch that exits without stopping the engine (process.exit) takes its daemon along. */
  private readonly onExit = () => {
    if (this.running) process.kill(this.pid, 'SIGKILL');
  };

  private constructor(
    readonly pid: number,
    readonly control: { host: string; port: number },
    private readonly files: { pid: string; log: string; kept: string },
    private readonly kept: Omit<KeptDaemon, 'pid' | 'controlPort'>,
    /** The daemon as our child; undefined when adopted from a previous run. */
    private readonly child: ChildProcess | undefined,
  ) {
    process.once('exit', this.onExit);
  }

  get running(): boolean {
    return this.child ? this.child.exitCode === null && this.child.signalCode === null : alive(this.pid);
  }

  /** Whether this daemon was left running by a previous run and taken over. */
  get adopted(): boolean {
    return this.child === undefined;
  }

  static async start(opts: RtpengineProcessOptions): Promise<RtpengineProcess> {
    const dir = path.dirname(opts.pidFile);
    const files = { pid: opts.pidFile, log: path.join(dir, 'rtpengine.log'), kept: path.join(dir, 'rtpengine.json') };
    const iface = opts.advertisedAddress === opts.bindAddress ? opts.bindAddress : `${opts.bindAddress}!${opts.advertisedAddress}`;
    const settings = { dtmfLogDest: opts.dtmfLogDest ?? null, portMin: opts.portMin, portMax: opts.portMax, iface };
    const adopted = await RtpengineProcess.adoptKept(files, settings, opts.log);
    if (adopted) return adopted;
    await stopLeftover(opts.pidFile, opts.log);
    const controlPort = await freeLoopbackPort();
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
    const logFd = openSync(files.log, 'a');
    let child: ChildProcess;
    try {
      // A process group of its own: signals to the switch's group (Ctrl-C, a service manager) are not its.
      child = spawn(opts.binary, args, { stdio: ['ignore', logFd, logFd], detached: true });
    } catch (err) {
      throw missingBinary(opts.binary, err as Error);
    } finally {
      closeSync(logFd);
    }
    const spawned = await new Promise<Error | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', (err) => resolve(err));
    });
    if (spawned) throw missingBinary(opts.binary, spawned);
    child.unref();
    const proc = new RtpengineProcess(child.pid!, { host: '127.0.0.1', port: controlPort }, files, settings, child);
    writeFileSync(opts.pidFile, `${child.pid}\n${controlPort}\n`);
    child.once('exit', (code, signal) => {
      if (!proc.stopping) opts.log.error({ code, signal, output: proc.recentOutput().slice(-2000) }, 'rtpengine exited on its own: calls have no media relay');
    });
    try {
      await proc.awaitPing(opts.startTimeoutMs ?? 5000);
    } catch (err) {
      await proc.stop();
      throw new RtpengineStartError(
        `${opts.binary} did not answer on its control port 127.0.0.1:${controlPort}: ${(err as Error).message}\n${proc.recentOutput().trim().split('\n').slice(-10).join('\n')}`,
      );
    }
    opts.log.info({ pid: child.pid, control: `127.0.0.1:${controlPort}`, ports: `${opts.portMin}-${opts.portMax}`, interface: iface, log: files.log }, 'rtpengine started');
    return proc;
  }

  private async awaitPing(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    const client = new NgClient({ ...this.control, retryMs: 200, attempts: 1 });
    try {
      for (;;) {
        if (!this.running) throw new Error(`it exited (${this.child?.exitCode ?? this.child?.signalCode ?? 'gone'})`);
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
    return tail(this.files.log);
  }

  /**
   * SIGTERM by PID, SIGKILL after `graceMs`; resolves once it has exited. With `keep` (live calls
   * persisted for the next start) it is left running instead, and `rtpengine.json` says so.
   */
  async stop(opts: { graceMs?: number; keep?: boolean } = {}): Promise<void> {
    this.stopping = true;
    process.off('exit', this.onExit);
    if (opts.keep && this.running) {
      const kept: KeptDaemon = { pid: this.pid, controlPort: this.control.port, ...this.kept };
      writeFileSync(this.files.kept, JSON.stringify(kept));
      return;
    }
    if (this.running) {
      process.kill(this.pid, 'SIGTERM');
      const deadline = Date.now() + (opts.graceMs ?? 3000);
      while (this.running && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      if (this.running) process.kill(this.pid, 'SIGKILL');
      while (this.running) await new Promise((r) => setTimeout(r, 20));
    }
    rmSync(this.files.pid, { force: true });
    rmSync(this.files.kept, { force: true });
  }

  /**
   * The daemon a previous run left running for this one (`rtpengine.json`), if it still runs as
   * that rtpengine with the same settings and answers: its calls' audio has been flowing meanwhile.
   */
  private static async adoptKept(
    files: { pid: string; log: string; kept: string },
    settings: Omit<KeptDaemon, 'pid' | 'controlPort'>,
    log: Logger,
  ): Promise<RtpengineProcess | undefined> {
    if (!existsSync(files.kept)) return undefined;
    let kept: KeptDaemon;
    try {
      kept = JSON.parse(readFileSync(files.kept, 'utf8')) as KeptDaemon;
    } catch {
      rmSync(files.kept, { force: true });
      return undefined;
    }
    rmSync(files.kept, { force: true });
    const same = kept.portMin === settings.portMin && kept.portMax === settings.portMax && kept.iface === settings.iface && kept.dtmfLogDest === settings.dtmfLogDest;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${kept.pid}/cmdline`, 'utf8');
    } catch {
      return undefined; // gone: the leftover check and a fresh start follow
    }
    if (!same || !cmdline.includes('rtpengine') || !cmdline.includes(`--listen-ng=127.0.0.1:${kept.controlPort}`)) return undefined;
    const adopted = new RtpengineProcess(kept.pid, { host: '127.0.0.1', port: kept.controlPort }, files, settings, undefined);
    try {
      await adopted.awaitPing(3000);
    } catch {
      process.off('exit', adopted.onExit);
      return undefined;
    }
    writeFileSync(files.pid, `${kept.pid}\n${kept.controlPort}\n`);
    log.info({ pid: kept.pid, control: `127.0.0.1:${kept.controlPort}` }, 'rtpengine: taking over the daemon the previous run left running for its calls');
    return adopted;
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
/**
 * Stops the rtpengine a run of the switch left running (its PID file names it and its control
 * port; nothing else is touched): at start, before starting another, and when a whole local
 * cluster is taken down (deploy/cluster), whose nodes may have died with calls and left theirs.
 */
export async function stopLeftover(pidFile: string, log: Logger): Promise<void> {
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
