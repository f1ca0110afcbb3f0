/**
 * The connection to Redis (REDIS_URL), where a cluster keeps what must be shared and fast: call
 * limits (calls/redisCallBudgets.ts). Commands fail at once while it is unreachable (no queue that
 * would hold a call's admission for seconds); the client reconnects by itself and the users of it
 * fall back to what the node knows alone.
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** Waits this long at start-up for Redis to answer; a node starts without it after that. */
const CONNECT_WAIT_MS = 5000;

export async function openRedis(url: string, log: Logger): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 1000,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
  let down = false;
  redis.on('error', (err: Error) => {
    if (down) return;
    down = true;
    log.warn({ redis: redactedUrl(url), err: err.message }, 'Redis unreachable: retrying in the background');
  });
  redis.on('ready', () => {
    if (down) log.info({ redis: redactedUrl(url) }, 'Redis answers again');
    down = false;
  });
  const ready = redis.connect().then(
    () => true,
    () => false,
  );
  const answered = await Promise.race([ready, new Promise<boolean>((r) => setTimeout(() => r(false), CONNECT_WAIT_MS).unref())]);
  if (!answered) log.warn({ redis: redactedUrl(url) }, 'Redis did not answer at start-up: starting without it (limits are counted per node until it does)');
  return redis;
}

/** The URL without its password, for logs. */
export function redactedUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@');
}
