/**
 * Brute-force defence for SIP digest authentication (the defaults of DESIGN.md):
 * - `perPairLimit` failures for one (username, IP) within `pairWindowMs` block that pair for
 *   `pairBlockMs`: that account cannot be guessed at from there, everyone else is served;
 * - `distinctUsersLimit` different usernames failing from one IP within `scanWindowMs` ban the IP
 *   for `ipBanMs` (a scanner walking usernames): its packets are dropped before any work.
 *
 * Callers record only failures that prove their source (credentials answering a fresh nonce this
 * switch issued to that address, see authenticate.ts): a forged source address cannot get anyone
 * blocked. An address `isExempt` says is a configured provider's is never banned; its pairs are
 * still blocked, which is what protects each account.
 *
 * Every block is kept as a `Ban` with its reason and expiry, so that operators and tenants can see
 * and lift them (server/api/banRoutes.ts). Memory is bounded: each map is capped and pruned as it
 * is used.
 */
import { randomToken } from './random.ts';

export interface AuthGuardOptions {
  perPairLimit: number;
  pairWindowMs: number;
  pairBlockMs: number;
  distinctUsersLimit: number;
  scanWindowMs: number;
  ipBanMs: number;
  maxTracked: number;
}

export const DEFAULT_AUTH_GUARD: AuthGuardOptions = {
  perPairLimit: 10,
  pairWindowMs: 10 * 60_000,
  pairBlockMs: 30 * 60_000,
  distinctUsersLimit: 5,
  scanWindowMs: 60_000,
  ipBanMs: 60 * 60_000,
  maxTracked: 100_000,
};

/** A block in force: an address (`kind: 'address'`) or one account from one address (`'account'`). */
export interface Ban {
  id: string;
  kind: 'address' | 'account';
  address: string;
  /** The account blocked (kind 'account'). */
  username: string | null;
  /** The usernames whose failures led to it. */
  usernames: string[];
  /** Why, in words, without the usernames (tenants see a ban with only their own usernames). */
  reason: string;
  since: number;
  until: number;
}

export type FailureOutcome = 'none' | 'pair-blocked' | 'ip-banned' | 'ban-exempt';

interface PairState {
  failures: number[];
  block?: Ban;
}

const minutes = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 1000)} s`);
const pairKey = (username: string, ip: string) => `${username}\n${ip}`;

export class AuthGuard {
  private readonly pairs = new Map<string, PairState>();
  private readonly usersByIp = new Map<string, Map<string, number>>();
  private readonly bannedIps = new Map<string, Ban>();

  constructor(
    private readonly o: AuthGuardOptions = DEFAULT_AUTH_GUARD,
    /** True for addresses that are never banned (configured providers'). */
    private readonly isExempt: (ip: string) => boolean = () => false,
  ) {}

  isIpBanned(ip: string, now = Date.now()): boolean {
    const ban = this.bannedIps.get(ip);
    if (ban === undefined) return false;
    if (ban.until > now) return !this.isExempt(ip);
    this.bannedIps.delete(ip);
    return false;
  }

  isPairBlocked(username: string, ip: string, now = Date.now()): boolean {
    const until = this.pairs.get(pairKey(username, ip))?.block?.until;
    return until !== undefined && until > now;
  }

  /** Records a failed authentication that proved its source; returns what it triggered. */
  recordFailure(username: string, ip: string, now = Date.now()): FailureOutcome {
    let result: FailureOutcome = 'none';
    const key = pairKey(username, ip);
    let s = this.pairs.get(key);
    if (!s) {
      this.cap(this.pairs);
      s = { failures: [] };
      this.pairs.set(key, s);
    }
    s.failures = s.failures.filter((t) => now - t < this.o.pairWindowMs);
    s.failures.push(now);
    if (s.failures.length >= this.o.perPairLimit) {
      s.block = {
        id: randomToken(12, 'base64url'),
        kind: 'account',
        address: ip,
        username,
        usernames: [username],
        reason: `${s.failures.length} failed authentications for this account from this address within ${minutes(this.o.pairWindowMs)}`,
        since: now,
        until: now + this.o.pairBlockMs,
      };
      s.failures = [];
      result = 'pair-blocked';
    }

    let users = this.usersByIp.get(ip);
    if (!users) {
      this.cap(this.usersByIp);
      users = new Map();
      this.usersByIp.set(ip, users);
    }
    for (const [u, t] of users) if (now - t >= this.o.scanWindowMs) users.delete(u);
    users.set(username, now);
    if (users.size >= this.o.distinctUsersLimit) {
      this.usersByIp.delete(ip);
      if (this.isExempt(ip)) return 'ban-exempt';
      this.cap(this.bannedIps);
      this.bannedIps.set(ip, {
        id: randomToken(12, 'base64url'),
        kind: 'address',
        address: ip,
        username: null,
        usernames: [...users.keys()],
        reason: `${users.size} usernames failed authentication from this address within ${minutes(this.o.scanWindowMs)}`,
        since: now,
        until: now + this.o.ipBanMs,
      });
      result = 'ip-banned';
    }
    return result;
  }

  recordSuccess(username: string, ip: string): void {
    this.pairs.delete(pairKey(username, ip));
  }

  /** The bans in force, newest first. */
  bans(now = Date.now()): Ban[] {
    const out: Ban[] = [];
    for (const [ip, ban] of this.bannedIps) {
      if (ban.until > now) out.push(ban);
      else this.bannedIps.delete(ip);
    }
    for (const s of this.pairs.values()) if (s.block && s.block.until > now) out.push(s.block);
    return out.sort((a, b) => b.since - a.since);
  }

  /** Lifts a ban in force by its id; returns it, or undefined when there is none. */
  lift(id: string, now = Date.now()): Ban | undefined {
    const ban = this.bans(now).find((b) => b.id === id);
    if (!ban) return undefined;
    if (ban.kind === 'address') {
      this.bannedIps.delete(ban.address);
      this.usersByIp.delete(ban.address);
    } else {
      this.pairs.delete(pairKey(ban.username!, ban.address));
    }
    return ban;
  }

  private cap(map: Map<string, unknown>): void {
    if (map.size < this.o.maxTracked) return;
    // Drop the oldest tenth: under a flood of sources we forget old entries, not crash.
    let n = Math.ceil(this.o.maxTracked / 10);
    for (const k of map.keys()) {
      map.delete(k);
      if (--n === 0) break;
    }
  }
}
