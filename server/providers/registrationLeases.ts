/**
 * Which node registers each provider. On one node, this one registers them all. In a cluster a
 * lease per provider in Redis (SET NX with an expiry, renewed by its holder) lets one node
 * register it; when that node dies its leases run out and another node takes them over within
 * one lease period, and registers those providers from there.
 */
import type { Redis } from 'ioredis';

export interface RegistrationLeases {
  /** How long a lease lasts unrenewed; holders renew, others try to take, every third of it. */
  readonly periodMs: number;
  /** Takes or renews the lease on a provider's registration: true while this node holds it. */
  hold(providerId: string): Promise<boolean>;
  /** Gives a held lease up (a clean stop, a provider deleted). */
  release(providerId: string): Promise<void>;
}

/** One node: every provider is registered here. */
export const ALL_PROVIDERS_HERE: RegistrationLeases = { periodMs: Number.POSITIVE_INFINITY, hold: () => Promise.resolve(true), release: () => Promise.resolve() };

/** KEYS[1]: the lease; ARGV: node id, period (ms). 1 when the node holds it (renewed or taken), 0 when another does. */
const HOLD = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

/** KEYS[1]: the lease; ARGV[1]: node id. Deletes it only if this node holds it. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export class RedisRegistrationLeases implements RegistrationLeases {
  constructor(
    private readonly redis: Redis,
    private readonly nodeId: string,
    readonly periodMs: number,
  ) {
    redis.defineCommand('sipswitchLeaseHold', { numberOfKeys: 1, lua: HOLD });
    redis.defineCommand('sipswitchLeaseRelease', { numberOfKeys: 1, lua: RELEASE });
  }

  async hold(providerId: string): Promise<boolean> {
    return (await this.call('sipswitchLeaseHold', [leaseKey(providerId), this.nodeId, this.periodMs])) === 1;
  }

  async release(providerId: string): Promise<void> {
    await this.call('sipswitchLeaseRelease', [leaseKey(providerId), this.nodeId]);
  }

  /** Runs one of the scripts defined above (ioredis adds them as methods, untyped). */
  private call(command: string, args: Array<string | number>): Promise<unknown> {
    return (this.redis as unknown as Record<string, (...a: Array<string | number>) => Promise<unknown>>)[command]!(...args);
  }
}

const leaseKey = (providerId: string) => `sipswitch:provider-lease:${providerId}`;
