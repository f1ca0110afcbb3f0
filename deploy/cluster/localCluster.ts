/**
 * A cluster on loopback, as installed on this machine: Redis, N switch nodes (`server/main.ts`, as
 * `npm start` runs it) on one MySQL/MariaDB database, and Kamailio with deploy/kamailio/sipswitch.cfg
 * in front. `npm run cluster` (run.ts) starts one for a user to try; the cluster tests start theirs
 * through here too, so what they exercise is what a user runs. Every process is started here and
 * stopped by its PID.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, writeFileSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { stopLeftover } from '../../server/media/rtpengine/rtpengineProcess.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const KAMAILIO_CFG = path.join(ROOT, 'deploy/kamailio/sipswitch.cfg');
const quiet = pino({ level: 'silent' });

export interface ClusterPorts {
  /** Kamailio's SIP port (UDP and TCP), the one address phones use. */
  frontDoor: number;
  redis: number;
  /** Per node: its SIP port (UDP and TCP) and its portal/API port. */
  nodes: Array<{ sip: number; http: number }>;
}

export interface ClusterOptions {
  ports: ClusterPorts;
  /** mysql://… of a database the nodes share (created if missing). */
  databaseUrl: string;
  /** Where each node's DATA_DIR, Kamailio's files and every process's log go. */
  dir: string;
  /** Settings for every node on top of the cluster's own (limits, log level, …). */
  env?: Record<string, string>;
  /** Seconds between Kamailio's OPTIONS probes of each node. */
  pingIntervalSeconds?: number;
}

export interface ClusterNode {
  id: string;
  sipPort: number;
  httpUrl: string;
  dataDir: string;
  readonly pid: number;
  readonly running: boolean;
  /** SIGKILL (a crash) or SIGTERM (a clean stop); resolves once the process is gone. */
  kill(signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  /** Starts it again on the same data and ports (with `env` on top of its settings); resolves when it is ready. */
  start(env?: Record<string, string>): Promise<void>;
  logFile: string;
}

export interface LocalCluster {
  frontDoor: { host: string; port: number };
  redisUrl: string;
  nodes: ClusterNode[];
  kamailioPid: number;
  /** Kamailio's dispatcher view, node address → flags (`AP` in use, `IP` taken out after failed probes). */
  dispatcher(): Record<string, string>;
  /** Resolves when Kamailio's view of every node matches (`AP` for up, `IP` for out). */
  waitForDispatcher(want: (flags: Record<string, string>) => boolean, ms?: number): Promise<void>;
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';

interface Started {
  child: ChildProcess;
  exited: Promise<void>;
  log: WriteStream;
}

function startProcess(cmd: string, args: string[], logFile: string, env?: NodeJS.ProcessEnv): Started {
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(cmd, args, { cwd: ROOT, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, exited, log };
}

async function stopProcess(p: Started | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!p) return;
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill(signal);
  const force = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
  await p.exited;
  clearTimeout(force);
}

async function until(what: string, ms: number, probe: () => Promise<boolean> | boolean, exited?: ChildProcess): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (exited && exited.exitCode !== null) throw new Error(`${what}: the process exited with ${exited.exitCode}`);
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function createDatabase(url: string): Promise<void> {
  const { default: mysql } = await import('mysql2/promise');
  const u = new URL(url);
  const name = u.pathname.replace(/^\//, '');
  if (!/^\w+$/.test(name)) throw new Error(`database name must be letters, digits and _: ${name}`);
  u.pathname = '/';
  const c = await mysql.createConnection({ uri: u.toString() });
  try {
    await c.query(`CREATE DATABASE IF NOT EXISTS \`${name}\``);
  } finally {
    await c.end();
  }
}

function startRedis(port: number, dir: string): Started {
  return startProcess('redis-server', ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--dir', dir], path.join(dir, 'redis.log'));
}

function redisAnswers(port: number): boolean {
  return spawnSync('redis-cli', ['-h', HOST, '-p', String(port), 'ping'], { encoding: 'utf8', timeout: 2000 }).stdout.trim() === 'PONG';
}

/** `kamcmd dispatcher.list`, reduced to address → flags. */
function dispatcherFlags(ctl: string): Record<string, string> {
  const out = spawnSync('kamcmd', ['-s', ctl, 'dispatcher.list'], { encoding: 'utf8', timeout: 3000 }).stdout;
  const flags: Record<string, string> = {};
  for (const m of out.matchAll(/URI:\s*sip:([^\s]+)\s+FLAGS:\s*(\w+)/g)) flags[m[1]!] = m[2]!;
  return flags;
}

export async function startLocalCluster(o: ClusterOptions): Promise<LocalCluster> {
  mkdirSync(o.dir, { recursive: true });
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s();
    stops.length = 0;
  };
  try {
    await createDatabase(o.databaseUrl);
    const redis = startRedis(o.ports.redis, o.dir);
    stops.push(() => stopProcess(redis));
    await until('Redis answering', 10_000, () => redisAnswers(o.ports.redis), redis.child);
    const redisUrl = `redis://${HOST}:${o.ports.redis}`;

    // Shared by every node: nonces one node gives are checked by another, and provider passwords
    // sealed by one are opened by the others.
    const shared = { SECRET_KEY: randomBytes(24).toString('hex'), CREDENTIALS_KEY: randomBytes(32).toString('hex') };
    const nodes = o.ports.nodes.map((ports, i) => clusterNode(i + 1, ports, { o, redisUrl, shared }));
    stops.push(async () => {
      for (const n of nodes) await n.kill('SIGTERM');
      // A node killed outright (or stopped with calls to resume) leaves its media relay running.
      for (const n of nodes) await stopLeftover(path.join(n.dataDir, 'rtpengine.pid'), quiet);
    });
    // The first one migrates the database alone; the others start together.
    await nodes[0]!.start();
    await Promise.all(nodes.slice(1).map((n) => n.start()));

    const list = path.join(o.dir, 'dispatcher.list');
    writeFileSync(list, nodes.map((n) => `1 sip:${HOST}:${n.sipPort}\n`).join(''));
    const ctl = `unix:${path.join(o.dir, 'kamailio_ctl')}`;
    const kamailio = startProcess(
      'kamailio',
      [
        '-f',
        KAMAILIO_CFG,
        '-DD',
        '-E',
        '-x',
        'fm',
        '-X',
        'fm',
        '-m',
        '256',
        '-M',
        '16',
        '-Y',
        o.dir,
        '-l',
        `udp:${HOST}:${o.ports.frontDoor}`,
        '-l',
        `tcp:${HOST}:${o.ports.frontDoor}`,
        '-A',
        `DSLIST="${list}"`,
        '-A',
        `CTLSOCK="${ctl}"`,
        '-A',
        `PING_INTERVAL=${o.pingIntervalSeconds ?? 1}`,
      ],
      path.join(o.dir, 'kamailio.log'),
    );
    stops.push(() => stopProcess(kamailio));
    const cluster: LocalCluster = {
      frontDoor: { host: HOST, port: o.ports.frontDoor },
      redisUrl,
      nodes,
      kamailioPid: kamailio.child.pid!,
      dispatcher: () => dispatcherFlags(ctl),
      waitForDispatcher: (want, ms = 15_000) => until('Kamailio seeing the nodes as wanted', ms, () => want(dispatcherFlags(ctl)), kamailio.child),
      stop,
    };
    await cluster.waitForDispatcher((f) => Object.keys(f).length === nodes.length && Object.values(f).every((v) => v.startsWith('A')));
    return cluster;
  } catch (err) {
    await stop();
    throw err;
  }
}

function clusterNode(n: number, ports: { sip: number; http: number }, c: { o: ClusterOptions; redisUrl: string; shared: Record<string, string> }): ClusterNode {
  const id = `node-${n}`;
  const dataDir = path.join(c.o.dir, id);
  mkdirSync(dataDir, { recursive: true });
  const logFile = path.join(c.o.dir, `${id}.log`);
  const httpUrl = `http://${HOST}:${ports.http}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ID: id,
    SIP_HOST: HOST,
    SIP_PORT: String(ports.sip),
    // Phones address the cluster by the front door's address.
    SIP_DOMAIN: HOST,
    SIP_FRONT_DOORS: `${HOST}:${c.o.ports.frontDoor}`,
    SIP_TLS_PORT: 'off',
    HTTPS_PORT: 'off',
    HTTP_HOST: HOST,
    HTTP_PORT: String(ports.http),
    DATA_DIR: dataDir,
    DATABASE_URL: c.o.databaseUrl,
    REDIS_URL: c.redisUrl,
    // Each node relays media on ports of its own.
    MEDIA_PORT_MIN: String(30000 + n * 1000),
    MEDIA_PORT_MAX: String(30999 + n * 1000),
    LOG_PRETTY: 'false',
    ...c.shared,
    ...c.o.env,
  };
  let p: Started | undefined;
  const running = () => p !== undefined && p.child.exitCode === null && p.child.signalCode === null;
  return {
    id,
    sipPort: ports.sip,
    httpUrl,
    dataDir,
    logFile,
    get pid() {
      return p?.child.pid ?? 0;
    },
    get running() {
      return running();
    },
    kill: (signal = 'SIGKILL') => stopProcess(p, signal),
    start: async (extra = {}) => {
      if (running()) return;
      p = startProcess(process.execPath, ['--import', 'tsx', 'server/main.ts'], logFile, { ...env, ...extra });
      await until(
        `${id} ready`,
        60_000,
        () =>
          fetch(`${httpUrl}/readyz`).then(
            (r) => r.ok,
            () => false,
          ),
        p.child,
      );
    },
  };
}
