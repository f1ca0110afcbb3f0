/**
 * How many calls each kind of caller may have at once and start per minute (the toll-fraud and
 * fair-share limits of DESIGN.md). A tenant's own phones, its providers and strangers each have a
 * budget of their own, so strangers ringing its accounts cannot use up what its phones need to
 * call out or what its carriers need to deliver; strangers are also limited per source address,
 * at once and in new INVITEs per minute, so one source cannot use up a tenant's strangers' budget.
 * `LocalCallBudgets` counts this node's calls; on several nodes `RedisCallBudgets`
 * (redisCallBudgets.ts) counts the cluster's, so a tenant's cap holds wherever its calls land.
 */
import { KeyedRateLimiter } from '../sip/keyedRateLimiter.ts';

export interface CallLimits {
  /** Calls a tenant's phones may have at once; counted apart, calls its providers may deliver at once. */
  perTenant: number;
  /** Calls a tenant's phones may place per minute (a minute's worth at once). */
  perMinute: number;
  /** Calls strangers may have at once to one tenant's accounts. */
  strangersPerTenant: number;
  /** Calls strangers may have at once from one source address, to any tenant. */
  strangersPerSource: number;
  /** New INVITEs without credentials one source address may send per minute (providers' calls not counted). */
  invitesPerMinutePerSource: number;
}

/** Who placed a call: one of the tenant's phones (authenticated), one of its providers, or anyone else. */
export type CallerKind = 'phone' | 'provider' | 'stranger';

export type LimitName = 'calls-at-once' | 'calls-per-minute' | 'stranger-calls-at-once' | 'source-calls-at-once' | 'source-invites-per-minute';

/** A call the limits refuse: answered 503 with Retry-After; `message` is for the logs. */
export interface Refusal {
  limit: LimitName;
  reason: string;
  retryAfterSeconds: number;
  message: string;
}

/** Seconds a caller is asked to wait when a limit on calls at once refused it. */
export const AT_ONCE_RETRY_SECONDS = 30;

/** A refusal, or none; answered at once by the local budgets, after a round trip by shared ones. */
export type Admission = Refusal | undefined | Promise<Refusal | undefined>;

/**
 * The limits of calls at once and per minute. `admit` decides whether a new call may start; the
 * call is then counted by `hold` until `release` (a call resumed after a restart is only held).
 */
export interface CallBudgets {
  /** A new INVITE without credentials, not from a provider: one of the source's per minute. */
  admitUncredentialedInvite(source: string): Admission;
  /** Whether a call of `kind` may start now (a phone's call also takes one of the tenant's calls of the minute). */
  admit(kind: CallerKind, tenantId: string, source: string): Admission;
  /** One of the tenant's calls of the minute: placed by its phones, or placed for it by a transfer. */
  admitPlaced(tenantId: string): Admission;
  /** Counts a call in its budgets until `release` is called with the same arguments. */
  hold(kind: CallerKind, tenantId: string, source: string): void;
  release(kind: CallerKind, tenantId: string, source: string): void;
}

/** What the limits refuse, in the words a caller and the logs get. */
export function atOnceRefusal(name: LimitName, limit: number): Refusal {
  return {
    limit: name,
    reason: name === 'source-calls-at-once' ? 'Too Many Calls From This Address' : 'Too Many Calls',
    retryAfterSeconds: AT_ONCE_RETRY_SECONDS,
    message: `${name}: limit of ${limit} reached`,
  };
}

export function rateRefusal(name: 'calls-per-minute' | 'source-invites-per-minute', limits: CallLimits, retryAfterMs: number): Refusal {
  const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return name === 'calls-per-minute'
    ? { limit: name, reason: 'Call Rate Exceeded', retryAfterSeconds, message: `calls per minute: limit of ${limits.perMinute} reached` }
    : { limit: name, reason: 'Too Many Calls From This Address', retryAfterSeconds, message: 'new INVITEs per minute from one source address: limit reached' };
}

/** The budgets each key of a call counts in, with its limit: one for phones and providers, two for strangers. */
export function budgetsOf(limits: CallLimits, kind: CallerKind, tenantId: string, source: string): Array<[key: string, limit: number, name: LimitName]> {
  switch (kind) {
    case 'phone':
      return [[`${tenantId} placed`, limits.perTenant, 'calls-at-once']];
    case 'provider':
      return [[`${tenantId} provider`, limits.perTenant, 'calls-at-once']];
    case 'stranger':
      return [
        [`source ${source}`, limits.strangersPerSource, 'source-calls-at-once'],
        [`${tenantId} stranger`, limits.strangersPerTenant, 'stranger-calls-at-once'],
      ];
  }
}

/** This node's calls, counted in memory. */
export class LocalCallBudgets implements CallBudgets {
  private readonly atOnce = new Map<string, number>();
  private readonly placedRate: KeyedRateLimiter;
  private readonly inviteRate: KeyedRateLimiter;

  constructor(private readonly limits: CallLimits) {
    this.placedRate = new KeyedRateLimiter({ burst: limits.perMinute, perSecond: limits.perMinute / 60 });
    this.inviteRate = new KeyedRateLimiter({ burst: limits.invitesPerMinutePerSource, perSecond: limits.invitesPerMinutePerSource / 60 });
  }

  admitUncredentialedInvite(source: string): Refusal | undefined {
    if (this.inviteRate.take(source)) return undefined;
    return rateRefusal('source-invites-per-minute', this.limits, this.inviteRate.retryAfterMs(source));
  }

  admit(kind: CallerKind, tenantId: string, source: string): Refusal | undefined {
    for (const [key, limit, name] of budgetsOf(this.limits, kind, tenantId, source)) {
      if ((this.atOnce.get(key) ?? 0) >= limit) return atOnceRefusal(name, limit);
    }
    return kind === 'phone' ? this.admitPlaced(tenantId) : undefined;
  }

  admitPlaced(tenantId: string): Refusal | undefined {
    if (this.placedRate.take(tenantId)) return undefined;
    return rateRefusal('calls-per-minute', this.limits, this.placedRate.retryAfterMs(tenantId));
  }

  hold(kind: CallerKind, tenantId: string, source: string): void {
    for (const [key] of budgetsOf(this.limits, kind, tenantId, source)) this.atOnce.set(key, (this.atOnce.get(key) ?? 0) + 1);
  }

  /** Calls held now, by budget (`budgetsOf`'s keys). */
  counts(): IterableIterator<[budget: string, calls: number]> {
    return this.atOnce.entries();
  }

  release(kind: CallerKind, tenantId: string, source: string): void {
    for (const [key] of budgetsOf(this.limits, kind, tenantId, source)) {
      const n = (this.atOnce.get(key) ?? 1) - 1;
      if (n > 0) this.atOnce.set(key, n);
      else this.atOnce.delete(key);
    }
  }
}
