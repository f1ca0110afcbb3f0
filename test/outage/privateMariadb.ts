/**
 * A MariaDB server of the test's own (its own data directory, port and socket, on 127.0.0.1), so a
 * test may stop and start it without touching the MariaDB other tests share. Root has no password.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { exitOf, runTool, waitFor } from '../interop/tools.ts';

const inCi = Boolean(process.env.CI) && process.env.CI !== 'false';
/** mariadbd lives in sbin, often not on a test runner's PATH. */
const SEARCH = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/libexec'];

function find(tool: string): string | undefined {
  for (const dir of SEARCH) {
    try {
      accessSync(path.join(dir, tool), constants.X_OK);
      return path.join(dir, tool);
    } catch {
      /* next */
    }
  }
  return undefined;
}

const server = find('mariadbd');
const installer = find('mariadb-install-db');

/** A reason to skip (announced on stderr), or false; in CI a missing server is an error. */
export function skipWithoutMariadb(): string | false {
  if (server && installer) return false;
  const reason = `${server ? 'mariadb-install-db' : 'mariadbd'} not found on PATH or in /usr/sbin (apt-get install mariadb-server)`;
  if (inCi) throw new Error(`CI needs ${reason}`);
  console.warn(`SKIPPING database outage tests: ${reason}`);
  return reason;
}

function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

const asRoot = process.getuid?.() === 0;

export class PrivateMariadb {
  private child: ChildProcess | undefined;
  private exited: Promise<unknown> = Promise.resolve();
  private output = '';

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  /** The server's directory for temporary tables, inside its own. */
  private get tmp(): string {
    const tmp = path.join(this.dir, 'tmp');
    mkdirSync(tmp, { recursive: true });
    return tmp;
  }

  /** `mysql://root@127.0.0.1:<port>/<database>` */
  url(database: string): string {
    return `mysql://root@127.0.0.1:${this.port}/${database}`;
  }

  /** Initialises a data directory and starts the server on a free port. */
  static async create(): Promise<PrivateMariadb> {
    const dir = mkdtempSync(path.join(tmpdir(), 'sipswitch-mariadb-'));
    const db = new PrivateMariadb(dir, await freeTcpPort());
    const init = await runTool(
      installer!,
      [
        '--no-defaults',
        `--datadir=${path.join(dir, 'data')}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        ...(asRoot ? ['--user=root'] : []),
        // Small files: this server lives for one test.
        '--innodb-log-file-size=8M',
      ],
      dir,
      60_000,
    );
    if (init.code !== 0) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`mariadb-install-db failed (${init.code}):\n${init.output.slice(-2000)}`);
    }
    try {
      await db.start();
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return db;
  }

  /** Starts the server on its data directory and waits until it answers. */
  async start(): Promise<void> {
    if (this.child) throw new Error('already running');
    const child = spawn(
      server!,
      [
        '--no-defaults',
        `--datadir=${path.join(this.dir, 'data')}`,
        `--port=${this.port}`,
        '--bind-address=127.0.0.1',
        `--socket=${path.join(this.dir, 'sock')}`,
        `--pid-file=${path.join(this.dir, 'pid')}`,
        `--log-error=${path.join(this.dir, 'error.log')}`,
        // Its own directory for temporary tables: in the shared /tmp one of them once vanished
        // under a running query (CI: "Error on delete of '/tmp/#sql-temptable-…'").
        `--tmpdir=${this.tmp}`,
        '--innodb-log-file-size=8M',
        '--innodb-buffer-pool-size=32M',
        ...(asRoot ? ['--user=root'] : []),
      ],
      { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await waitFor(`MariaDB on 127.0.0.1:${this.port}`, 30_000, async () => {
        if (child.exitCode !== null) throw new Error(`mariadbd exited with ${child.exitCode}: ${this.output.slice(-2000)}`);
        try {
          const c = await mysql.createConnection({ host: '127.0.0.1', port: this.port, user: 'root', connectTimeout: 2000 });
          await c.end();
          return true;
        } catch {
          return undefined;
        }
      });
    } catch (err) {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
      await this.exited;
      this.child = undefined;
      throw err;
    }
  }

  /** SIGTERM to its PID (a clean shutdown), SIGKILL if it is not gone within 30 s. Returns how long it took. */
  async stop(): Promise<number> {
    const child = this.child;
    if (!child) return 0;
    const started = Date.now();
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid!, 'SIGTERM');
      await exitOf(child, 30_000, () => this.output);
    }
    await this.exited;
    this.child = undefined;
    return Date.now() - started;
  }

  async query(database: string, sql: string, params: unknown[] = []): Promise<unknown[]> {
    const c = await mysql.createConnection({ host: '127.0.0.1', port: this.port, user: 'root', ...(database ? { database } : {}) });
    try {
      const [rows] = await c.query(sql, params);
      return rows as unknown[];
    } finally {
      await c.end();
    }
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
