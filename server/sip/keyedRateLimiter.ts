/**
 * Token buckets by key (a source address, a tenant): up to `burst` at once, then `perSecond` on
 * average. Synchronous and O(1), so the SIP receive path can ask it for every request; the
 * rate-limiting libraries on npm answer through promises, which that path cannot wait for without
 * letting a retransmission in between.
 */
export interface RateLimit {
  burst: number;
  perSecond: number;
  /** Keys tracked at most; beyond it, buckets that are full again are forgotten first. */
  maxKeys?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class KeyedRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly maxKeys: number;

  constructor(private readonly limit: RateLimit) {
    this.maxKeys = limit.maxKeys ?? 100_000;
  }

  /** Takes one token for `key`; false (and nothing taken) when its bucket is empty. */
  take(key: string, now = Date.now()): boolean {
    const b = this.refilled(key, now);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** How long until `key` has a token again (0 if it has one now). */
  retryAfterMs(key: string, now = Date.now()): number {
    const b = this.refilled(key, now);
    return b.tokens >= 1 ? 0 : Math.ceil(((1 - b.tokens) / this.limit.perSecond) * 1000);
  }

  get trackedKeys(): number {
    return this.buckets.size;
  }

  private refilled(key: string, now: number): Bucket {
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) this.forget(now);
      b = { tokens: this.limit.burst, at: now };
      this.buckets.set(key, b);
      return b;
    }
    if (now > b.at) {
      b.tokens = Math.min(this.limit.burst, b.tokens + ((now - b.at) / 1000) * this.limit.perSecond);
      b.at = now;
    }
    return b;
  }

  /**
   * Makes room: a bucket that has refilled is the same as a new one, so those go first; if every
   * key is busy (many sources at once), the oldest tenth goes, which gives them a fresh bucket.
   */
  private forget(now: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.limit.perSecond >= this.limit.burst) this.buckets.delete(key);
    }
    if (this.buckets.size < this.maxKeys) return;
    let drop = Math.ceil(this.maxKeys / 10);
    for (const key of this.buckets.keys()) {
      if (drop-- <= 0) break;
      this.buckets.delete(key);
    }
  }
}
