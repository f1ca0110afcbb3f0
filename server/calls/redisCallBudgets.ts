/**
 * The call limits of callBudgets.ts counted for the whole cluster in Redis, so a tenant's cap holds
 * whichever nodes its calls arrive at. Each budget is a hash of node → calls at once: a check and
 * the increment that reserves the call are one script (two nodes cannot both take the last place),
 * a node's own entries can be dropped in one go when it restarts or dies (`forgetNode`), and the
 * per-minute limits are token buckets kept by a script on Redis's clock.
 *
 * This node's calls are also counted in memory (a LocalCallBudgets), which is the truth about
 * them: when Redis cannot be reached, calls are admitted on this node's counts alone (a warning
 * says so) rather than refused, and whenever the connection is (re)established this node's
 * entries in Redis are rewritten from memory.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { atOnceRefusal, budgetsOf, LocalCallBudgets, rateRefusal, type CallBudgets, type CallerKind, type CallLimits, type Refusal } from './callBudgets.ts';

const PREFIX = 'sipswitch:';
const atOnceKey = (budget: string) => `${PREFIX}atonce:${budget}`;
const nodeKeysKey = (nodeId: string) => `${PREFIX}node-budgets:${nodeId}`;

/** KEYS: the budgets' hashes, then the node's set of them. ARGV: node id, each budget's limit. 0, or which budget is full. */
const ADMIT = `
local n = #KEYS - 1
for i = 1, n do
  local total = 0
  for _, v in ipairs(redis.call('HVALS', KEYS[i])) do total = total + tonumber(v) end
  if total >= tonumber(ARGV[i + 1]) then return i end
end
for i = 1, n do
  redis.call('HINCRBY', KEYS[i], ARGV[1], 1)
  redis.call('SADD', KEYS[n + 1], KEYS[i])
end
return 0`;

/** KEYS, ARGV[1] as ADMIT; ARGV[2]: how many calls to add (negative to release). */
const ADD = `
local n = #KEYS - 1
for i = 1, n do
  local v = redis.call('HINCRBY', KEYS[i], ARGV[1], tonumber(ARGV[2]))
  if v <= 0 then redis.call('HDEL', KEYS[i], ARGV[1]) else redis.call('SADD', KEYS[n + 1], KEYS[i]) end
end
return 0`;

/** KEYS[1]: a node's set of budgets; ARGV[1]: the node. Drops its entries from all of them. */
const FORGET_NODE = `
local keys = redis.call('SMEMBERS', KEYS[1])
for _, k in ipairs(keys) do redis.call('HDEL', k, ARGV[1]) end
redis.call('DEL', KEYS[1])
return #keys`;

/** KEYS[1]: a bucket. ARGV: burst, tokens per second. -1 when a token was taken, else ms until one is there. */
const TAKE = `
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) / 1000 * rate)
local result = -1
if tokens < 1 then result = math.ceil((1 - tokens) / rate * 1000) else tokens = tokens - 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return result`;

/** Warnings about an unreachable Redis: at most one per this many ms. */
const WARN_EVERY_MS = 30_000;

export class RedisCallBudgets implements CallBudgets {
  private readonly local: LocalCallBudgets;
  /** Calls admitted (and counted in Redis by the admission) that are not held yet, by caller. */
  private readonly reserved = new Map<string, number>();
  private lastWarning = 0;
  /** Resyncs run one after another: two interleaved would count this node's calls twice. */
  private resyncing: Promise<void> = Promise.resolve();

  constructor(
    private readonly redis: Redis,
    private readonly limits: CallLimits,
    private readonly nodeId: string,
    private readonly log: Logger,
  ) {
    this.local = new LocalCallBudgets(limits);
    redis.defineCommand('sipswitchAdmit', { lua: ADMIT });
    redis.defineCommand('sipswitchAdd', { lua: ADD });
    redis.defineCommand('sipswitchForgetNode', { numberOfKeys: 1, lua: FORGET_NODE });
    redis.defineCommand('sipswitchTake', { numberOfKeys: 1, lua: TAKE });
    // After a reconnection Redis may have lost or kept stale counts of ours: ours are in memory.
    redis.on('ready', () => void this.resync());
  }

  /** Rewrites this node's entries from its own counts; resolves once done (or Redis failed). */
  resync(): Promise<void> {
    this.resyncing = this.resyncing.then(async () => {
      try {
        await this.forgetNode(this.nodeId);
        for (const [budget, n] of this.local.counts()) await this.add([budget], n);
      } catch (err) {
        this.unreachable(err);
      }
    });
    return this.resyncing;
  }

  /** Drops a node's calls from every budget: it restarted (its calls are held again) or died (a survivor ended them). */
  async forgetNode(nodeId: string): Promise<number> {
    return (await this.call('sipswitchForgetNode', [nodeKeysKey(nodeId), nodeId])) as number;
  }

  async admitUncredentialedInvite(source: string): Promise<Refusal | undefined> {
    const perMinute = this.limits.invitesPerMinutePerSource;
    try {
      const wait = await this.take(`invites:${source}`, perMinute);
      return wait < 0 ? undefined : rateRefusal('source-invites-per-minute', this.limits, wait);
    } catch (err) {
      this.unreachable(err);
      return this.local.admitUncredentialedInvite(source);
    }
  }

  async admit(kind: CallerKind, tenantId: string, source: string): Promise<Refusal | undefined> {
    const budgets = budgetsOf(this.limits, kind, tenantId, source);
    let full: number;
    try {
      full = (await this.call('sipswitchAdmit', [
        budgets.length + 1,
        ...budgets.map(([b]) => atOnceKey(b)),
        nodeKeysKey(this.nodeId),
        this.nodeId,
        ...budgets.map(([, limit]) => limit),
      ])) as number;
    } catch (err) {
      this.unreachable(err);
      return this.local.admit(kind, tenantId, source);
    }
    if (full > 0) {
      const [, limit, name] = budgets[full - 1]!;
      return atOnceRefusal(name, limit);
    }
    const refusal = kind === 'phone' ? await this.admitPlaced(tenantId) : undefined;
    if (refusal) {
      await this.add(
        budgets.map(([b]) => b),
        -1,
      ).catch((err: unknown) => this.unreachable(err));
      return refusal;
    }
    const key = reservationKey(kind, tenantId, source);
    this.reserved.set(key, (this.reserved.get(key) ?? 0) + 1);
    return undefined;
  }

  async admitPlaced(tenantId: string): Promise<Refusal | undefined> {
    try {
      const wait = await this.take(`placed:${tenantId}`, this.limits.perMinute);
      return wait < 0 ? undefined : rateRefusal('calls-per-minute', this.limits, wait);
    } catch (err) {
      this.unreachable(err);
      return this.local.admitPlaced(tenantId);
    }
  }

  hold(kind: CallerKind, tenantId: string, source: string): void {
    this.local.hold(kind, tenantId, source);
    const key = reservationKey(kind, tenantId, source);
    const reserved = this.reserved.get(key) ?? 0;
    if (reserved > 0) {
      // Counted in Redis when it was admitted.
      if (reserved > 1) this.reserved.set(key, reserved - 1);
      else this.reserved.delete(key);
      return;
    }
    // A call resumed after a restart, or admitted while Redis was unreachable.
    this.add(
      budgetsOf(this.limits, kind, tenantId, source).map(([b]) => b),
      1,
    ).catch((err: unknown) => this.unreachable(err));
  }

  release(kind: CallerKind, tenantId: string, source: string): void {
    this.local.release(kind, tenantId, source);
    this.add(
      budgetsOf(this.limits, kind, tenantId, source).map(([b]) => b),
      -1,
    ).catch((err: unknown) => this.unreachable(err));
  }

  private async add(budgets: string[], n: number): Promise<void> {
    await this.call('sipswitchAdd', [budgets.length + 1, ...budgets.map(atOnceKey), nodeKeysKey(this.nodeId), this.nodeId, n]);
  }

  private take(bucket: string, perMinute: number): Promise<number> {
    return this.call('sipswitchTake', [`${PREFIX}rate:${bucket}`, perMinute, perMinute / 60]) as Promise<number>;
  }

  /** Runs one of the scripts defined above (ioredis adds them as methods, untyped). */
  private call(command: string, args: Array<string | number>): Promise<unknown> {
    return (this.redis as unknown as Record<string, (...a: Array<string | number>) => Promise<unknown>>)[command]!(...args);
  }

  private unreachable(err: unknown): void {
    const now = Date.now();
    if (now - this.lastWarning < WARN_EVERY_MS) return;
    this.lastWarning = now;
    this.log.warn({ err: (err as Error).message }, 'Redis unreachable: call limits are counted on this node alone until it answers');
  }
}

function reservationKey(kind: CallerKind, tenantId: string, source: string): string {
  return `${kind} ${tenantId} ${source}`;
}
