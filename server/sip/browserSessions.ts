/**
 * Short-lived passwords for the portal's softphone (issue 18): a portal user who is signed in may
 * use one of the tenant's SIP accounts from the browser without knowing its password (only its
 * HA1 is stored). The API hands out a random password good for a few minutes; this table keeps
 * only its digest equivalents (HA1 for MD5 and SHA-256, as for an account), with the tenant and the
 * account it was made for, and authenticate.ts tries them beside the account's own.
 *
 * Held in the issuing node's memory and, in a cluster (REDIS_URL), in Redis too, so the browser's
 * WebSocket may land on any node: a hash per username, a field per password, gone when the last
 * one expires. Redis out of reach: each node knows the ones it issued. Nothing is written to the
 * database; a restart of a single node forgets them (the page asks for a new one).
 */
import type { Redis } from 'ioredis';
import { computeHa1 } from './digest.ts';
import { randomToken } from './random.ts';

export interface BrowserSession {
  tenantId: string;
  accountId: string;
  username: string;
  ha1Md5: string;
  ha1Sha256: string;
  expiresAt: number;
}

/** At most this many live passwords per account (a page that asks again and again cannot grow the table). */
const PER_ACCOUNT = 8;
const redisKey = (username: string) => `sipswitch:browser-sessions:${username}`;

export class BrowserSessions {
  private readonly byUser = new Map<string, Map<string, BrowserSession>>();
  private redis: Redis | undefined;

  constructor(
    private readonly realm: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** Shares the passwords with the cluster's other nodes from now on. */
  useRedis(redis: Redis): void {
    this.redis = redis;
  }

  /** A new password for the account, good for `ttlMs`; only its digests are kept. */
  async issue(a: { tenantId: string; accountId: string; username: string }, ttlMs: number): Promise<{ password: string; expiresAt: number }> {
    const password = randomToken(24);
    const id = randomToken(8);
    const expiresAt = this.now() + ttlMs;
    const session: BrowserSession = {
      ...a,
      ha1Md5: computeHa1('MD5', a.username, this.realm, password),
      ha1Sha256: computeHa1('SHA-256', a.username, this.realm, password),
      expiresAt,
    };
    const mine = this.local(a.username);
    mine.set(id, session);
    for (const [old] of [...mine].sort((x, y) => x[1].expiresAt - y[1].expiresAt).slice(0, Math.max(0, mine.size - PER_ACCOUNT))) mine.delete(old);
    this.byUser.set(a.username, mine);
    if (this.redis) {
      const key = redisKey(a.username);
      await this.redis
        .multi()
        .hset(key, id, JSON.stringify(session))
        // The newest password lives longest (one TTL for all): the hash goes with it.
        .pexpireat(key, expiresAt)
        .exec()
        .then(() => this.trimShared(a.username))
        .catch(() => {});
    }
    return { password, expiresAt };
  }

  /** Whether passwords are shared with other nodes (Redis). */
  get shared(): boolean {
    return this.redis !== undefined;
  }

  /** The HA1s of unexpired passwords this node issued for this very account (tenant and id must match). */
  localHa1s(account: { tenantId: string; id: string; username: string }, algorithm: 'MD5' | 'SHA-256'): string[] {
    return this.pick(this.local(account.username).values(), account, algorithm);
  }

  /** The same, as Redis holds them for the whole cluster (none without Redis or when it is out of reach). */
  async sharedHa1s(account: { tenantId: string; id: string; username: string }, algorithm: 'MD5' | 'SHA-256'): Promise<string[]> {
    return this.pick((await this.readShared(account.username)).values(), account, algorithm);
  }

  /** Both: what this node issued and what the cluster holds. */
  async ha1s(account: { tenantId: string; id: string; username: string }, algorithm: 'MD5' | 'SHA-256'): Promise<string[]> {
    return [...new Set([...this.localHa1s(account, algorithm), ...(await this.sharedHa1s(account, algorithm))])];
  }

  private pick(sessions: Iterable<BrowserSession>, account: { tenantId: string; id: string }, algorithm: 'MD5' | 'SHA-256'): string[] {
    const now = this.now();
    return [...sessions]
      .filter((s) => s.expiresAt > now && s.tenantId === account.tenantId && s.accountId === account.id)
      .map((s) => (algorithm === 'SHA-256' ? s.ha1Sha256 : s.ha1Md5));
  }

  /** Forgets every password of the account (it was disabled, deleted or its password changed). */
  async revoke(username: string): Promise<void> {
    this.byUser.delete(username);
    await this.redis?.del(redisKey(username)).catch(() => {});
  }

  private local(username: string): Map<string, BrowserSession> {
    const now = this.now();
    const list = this.byUser.get(username) ?? new Map<string, BrowserSession>();
    for (const [id, s] of list) if (s.expiresAt <= now) list.delete(id);
    if (list.size === 0) this.byUser.delete(username);
    return list;
  }

  private async readShared(username: string): Promise<Map<string, BrowserSession>> {
    const out = new Map<string, BrowserSession>();
    if (!this.redis) return out;
    const fields = await this.redis.hgetall(redisKey(username)).catch(() => ({}) as Record<string, string>);
    for (const [id, json] of Object.entries(fields)) {
      try {
        out.set(id, JSON.parse(json) as BrowserSession);
      } catch {
        // Not ours: ignored.
      }
    }
    return out;
  }

  /** The shared hash keeps the newest PER_ACCOUNT per account, and no expired ones. */
  private async trimShared(username: string): Promise<void> {
    const entries = [...(await this.readShared(username))];
    const now = this.now();
    const drop = entries.filter(([, s]) => s.expiresAt <= now).map(([id]) => id);
    const byAccount = new Map<string, Array<[string, BrowserSession]>>();
    for (const e of entries) if (e[1].expiresAt > now) byAccount.set(e[1].accountId, [...(byAccount.get(e[1].accountId) ?? []), e]);
    for (const list of byAccount.values()) {
      list.sort((x, y) => x[1].expiresAt - y[1].expiresAt);
      drop.push(...list.slice(0, Math.max(0, list.length - PER_ACCOUNT)).map(([id]) => id));
    }
    if (drop.length) await this.redis!.hdel(redisKey(username), ...drop);
  }
}
