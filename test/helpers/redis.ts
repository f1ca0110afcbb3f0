/**
 * A private Redis for one test file: redis-server on a free loopback port, nothing saved to disk,
 * stopped by its PID. `restart` stops it and starts an empty one on the same port (a Redis that
 * crashed and came back).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { freeUdpTcpPort, waitFor } from '../interop/tools.ts';

export interface PrivateRedis {
  url: string;
  port: number;
  /** A client of its own (closed by `stop`). */
  client(): Redis;
  /** Stops the server (SIGKILL) and resolves once it is gone. */
  kill(): Promise<void>;
  /** Starts an empty server on the same port. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freeUdpTcpPort();
  const url = `redis://127.0.0.1:${port}`;
  const clients: Redis[] = [];
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const start = async () => {
    const c = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    child = c;
    exited = new Promise((resolve) => c.once('exit', () => resolve()));
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    try {
      await waitFor('redis-server answering', 10_000, () =>
        probe
          .connect()
          .then(() => probe.ping())
          .then(
            () => true,
            () => {
              probe.disconnect();
              return undefined;
            },
          ),
      );
    } finally {
      probe.disconnect();
    }
  };
  const kill = async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    url,
    port,
    client: () => {
      const c = new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: () => 50 });
      clients.push(c);
      return c;
    },
    kill,
    start,
    stop: async () => {
      for (const c of clients) c.disconnect();
      await kill();
    },
  };
}
