import type { QuarantinePolicy } from './options.ts';
import type { QuarantineInfo } from './types.ts';

/**
 * Decides which tenants' dialplans are suspended, and until when. A tenant whose code is known to
 * have ended a worker (the worker named it) is quarantined at once (`convict`). A death nobody
 * explained is shared among its suspects, the tenants whose code was running (each gets 1/n), so
 * a tenant present at every crash reaches the threshold first, and a busy bystander at most as
 * fast as the culprit, which stops the crashes once quarantined.
 */
export class Quarantine {
  private readonly blame = new Map<string, Array<{ at: number; weight: number }>>();
  private readonly held = new Map<string, QuarantineInfo>();

  constructor(private readonly policy: QuarantinePolicy) {}

  /** Records one worker death; returns the tenants it newly quarantined. */
  blameCrash(suspects: string[], cause: string, now = Date.now()): Array<{ tenantId: string } & QuarantineInfo> {
    const unique = [...new Set(suspects)];
    const newly: Array<{ tenantId: string } & QuarantineInfo> = [];
    for (const tenantId of unique) {
      const entries = (this.blame.get(tenantId) ?? []).filter((e) => now - e.at < this.policy.windowMs);
      entries.push({ at: now, weight: 1 / unique.length });
      this.blame.set(tenantId, entries);
      const total = entries.reduce((sum, e) => sum + e.weight, 0);
      if (total + 1e-9 >= this.policy.crashes && !this.check(tenantId, now)) {
        const info = {
          until: new Date(now + this.policy.durationMs),
          reason: `dialplan code crashed the engine ${entries.length} times in ${Math.round(this.policy.windowMs / 60_000)} min (last: ${cause})`,
        };
        this.held.set(tenantId, info);
        this.blame.delete(tenantId);
        newly.push({ tenantId, ...info });
      }
    }
    return newly;
  }

  /** The tenant's code ended a worker: suspended now, for `reason`, unless it already is. */
  convict(tenantId: string, reason: string, now = Date.now()): ({ tenantId: string } & QuarantineInfo) | null {
    if (this.check(tenantId, now)) return null;
    const info = { until: new Date(now + this.policy.durationMs), reason };
    this.held.set(tenantId, info);
    this.blame.delete(tenantId);
    return { tenantId, ...info };
  }

  check(tenantId: string, now = Date.now()): QuarantineInfo | null {
    const info = this.held.get(tenantId);
    if (!info) return null;
    if (info.until.getTime() > now) return info;
    this.held.delete(tenantId);
    return null;
  }

  list(now = Date.now()): Array<{ tenantId: string } & QuarantineInfo> {
    return [...this.held.keys()].flatMap((tenantId) => {
      const info = this.check(tenantId, now);
      return info ? [{ tenantId, ...info }] : [];
    });
  }
}
