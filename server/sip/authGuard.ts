/**
 * Brute-force defence for SIP digest authentication (the defaults of DESIGN.md):
 * - `perPairLimit` failures for one (username, IP) within `pairWindowMs` block that pair for `pairBlockMs`;
 * - `distinctUsersLimit` different usernames failing from one IP within `scanWindowMs` ban the IP
 *   for `ipBanMs` (a scanner walking usernames), before any database lookup.
 * Memory is bounded: each map is capped and pruned as it is used.
 */
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

interface PairState {
  failures: number[];
  blockedUntil: number;
}

export class AuthGuard {
  private readonly pairs = new Map<string, PairState>();
  private readonly usersByIp = new Map<string, Map<string, number>>();
  private readonly bannedIps = new Map<string, number>();

  constructor(private readonly o: AuthGuardOptions = DEFAULT_AUTH_GUARD) {}

  isIpBanned(ip: string, now = Date.now()): boolean {
    const until = this.bannedIps.get(ip);
    if (until === undefined) return false;
    if (until > now) return true;
    this.bannedIps.delete(ip);
    return false;
  }

  isPairBlocked(username: string, ip: string, now = Date.now()): boolean {
    const s = this.pairs.get(`${username}\n${ip}`);
    return Boolean(s && s.blockedUntil > now);
  }

  /** Records a failed authentication; returns what it triggered. */
  recordFailure(username: string, ip: string, now = Date.now()): 'none' | 'pair-blocked' | 'ip-banned' {
    let result: 'none' | 'pair-blocked' | 'ip-banned' = 'none';
    const key = `${username}\n${ip}`;
    let s = this.pairs.get(key);
    if (!s) {
      this.cap(this.pairs);
      s = { failures: [], blockedUntil: 0 };
      this.pairs.set(key, s);
    }
    s.failures = s.failures.filter((t) => now - t < this.o.pairWindowMs);
    s.failures.push(now);
    if (s.failures.length >= this.o.perPairLimit) {
      s.blockedUntil = now + this.o.pairBlockMs;
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
      this.cap(this.bannedIps);
      this.bannedIps.set(ip, now + this.o.ipBanMs);
      this.usersByIp.delete(ip);
      result = 'ip-banned';
    }
    return result;
  }

  recordSuccess(username: string, ip: string): void {
    this.pairs.delete(`${username}\n${ip}`);
  }

  private cap(map: Map<string, unknown>): void {
    if (map.size < this.o.maxTracked) return;
    // Drop the oldest tenth: under a flood of spoofed sources we forget old entries, not crash.
    let n = Math.ceil(this.o.maxTracked / 10);
    for (const k of map.keys()) {
      map.delete(k);
      if (--n === 0) break;
    }
  }
}
