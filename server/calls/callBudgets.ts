/**
 * How many calls each kind of caller may have at once and start per minute (the toll-fraud and
 * fair-share limits of DESIGN.md). A tenant's own phones, its providers and strangers each have a
 * budget of their own, so strangers ringing its accounts cannot use up what its phones need to
 * call out or what its carriers need to deliver; strangers are also limited per source address,
 * at once and in new INVITEs per minute, so one source cannot use up a tenant's strangers' budget.
 * All counts are this node's.
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
const AT_ONCE_RETRY_SECONDS = 30;

export class CallBudgets {
  private readonly atOnce = new Map<string, number>();
  private readonly placedRate: KeyedRateLimiter;
  private readonly inviteRate: KeyedRateLimiter;

  constructor(private readonly limits: CallLimits) {
    this.placedRate = new KeyedRateLimiter({ burst: limits.perMinute, perSecond: limits.perMinute / 60 });
    this.inviteRate = new KeyedRateLimiter({ burst: limits.invitesPerMinutePerSource, perSecond: limits.invitesPerMinutePerSource / 60 });
  }

  /** A new INVITE without credentials, not from a provider: one of the source's per minute. */
  admitUncredentialedInvite(source: string): Refusal | undefined {
    if (this.inviteRate.take(source)) return undefined;
    return {
      limit: 'source-invites-per-minute',
      reason: 'Too Many Calls From This Address',
      retryAfterSeconds: Math.ceil(this.inviteRate.retryAfterMs(source) / 1000),
      message: 'new INVITEs per minute from one source address: limit reached',
    };
  }

  /**
   * Whether a call of `kind` may start now; a call the tenant's phones place also takes one of its
   * calls of the minute (so does a transfer the tenant is asked to place, see `admitPlaced`).
   */
  admit(kind: CallerKind, tenantId: string, source: string): Refusal | undefined {
    for (const [key, limit, name] of this.budgets(kind, tenantId, source)) {
      if ((this.atOnce.get(key) ?? 0) < limit) continue;
      return {
        limit: name,
        reason: name === 'source-calls-at-once' ? 'Too Many Calls From This Address' : 'Too Many Calls',
        retryAfterSeconds: AT_ONCE_RETRY_SECONDS,
        message: `${name}: limit of ${limit} reached`,
      };
    }
    return kind === 'phone' ? this.admitPlaced(tenantId) : undefined;
  }

  /** One of the tenant's calls of the minute: placed by its phones, or placed for it by a transfer. */
  admitPlaced(tenantId: string): Refusal | undefined {
    if (this.placedRate.take(tenantId)) return undefined;
    return {
      limit: 'calls-per-minute',
      reason: 'Call Rate Exceeded',
      retryAfterSeconds: Math.ceil(this.placedRate.retryAfterMs(tenantId) / 1000),
      message: `calls per minute: limit of ${this.limits.perMinute} reached`,
    };
  }

  /** Counts a call in its budgets until `release` is called with the same arguments. */
  hold(kind: CallerKind, tenantId: string, source: string): void {
    for (const [key] of this.budgets(kind, tenantId, source)) this.atOnce.set(key, (this.atOnce.get(key) ?? 0) + 1);
  }

  release(kind: CallerKind, tenantId: string, source: string): void {
    for (const [key] of this.budgets(kind, tenantId, source)) {
      const n = (this.atOnce.get(key) ?? 1) - 1;
      if (n > 0) this.atOnce.set(key, n);
      else this.atOnce.delete(key);
    }
  }

  private budgets(kind: CallerKind, tenantId: string, source: string): Array<[key: string, limit: number, name: LimitName]> {
    switch (kind) {
      case 'phone':
        return [[`${tenantId} placed`, this.limits.perTenant, 'calls-at-once']];
      case 'provider':
        return [[`${tenantId} provider`, this.limits.perTenant, 'calls-at-once']];
      case 'stranger':
        return [
          [`source ${source}`, this.limits.strangersPerSource, 'source-calls-at-once'],
          [`${tenantId} stranger`, this.limits.strangersPerTenant, 'stranger-calls-at-once'],
        ];
    }
  }
}
