/**
 * A per-node read-through cache for what every call and REGISTER reads: a value is served for
 * `ttlMs` after it was read, then read again (concurrent readers of one key share one read). When
 * that read fails because the database is unreachable (`isDatabaseUnreachable`), or takes longer
 * than `loadDeadlineMs`, the last value read is served instead for up to `maxStaleMs` after it was
 * read, and the database is asked again at most every `staleRetryMs`; a metric counts such reads
 * and a log line marks when a cache starts and stops serving stale values.
 *
 * Writes on this node call `invalidate`: the value is dropped at once, a read in flight is not
 * stored, and nothing stale of that key is served afterwards. Other nodes see a change within
 * `ttlMs`. The cache holds at most `maxEntries` keys, dropping the least recently used.
 *
 * Keys are plain strings; a cache of tenant data must key by `tenantKey` so no two tenants ever
 * share an entry.
 */
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { isDatabaseUnreachable } from './errors.ts';

export interface CacheOptions<V> {
  /** Names the cache in metrics and logs. */
  name: string;
  ttlMs: number;
  maxEntries: number;
  /** With `weigh`, a second bound: the sum of the values' weights (e.g. a dialplan's source length). */
  maxWeight?: number;
  weigh?: (value: V) => number;
  /** How old a value may be when it is served because the database cannot be reached. */
  maxStaleMs: number;
  /** While a stale value is served, how often the database is asked again for that key. */
  staleRetryMs?: number;
  /**
   * When a value to fall back on is held, a read not answered within this counts as the database
   * being unreachable (the read still completes and is stored).
   */
  loadDeadlineMs?: number;
  log?: Logger;
  metrics?: CacheMetrics;
  now?: () => number;
}

export interface CacheMetrics {
  lookups: Counter<'cache' | 'result'>;
  entries: Gauge<'cache'>;
}

/** One set of cache metrics per registry, shared by the caches of a node. */
export function createCacheMetrics(registry: Registry): CacheMetrics {
  return {
    lookups: new Counter({
      name: 'store_cache_lookups_total',
      help: 'Cached reads by result: hit, miss (read from the database), stale (database unreachable, last known value served), error',
      labelNames: ['cache', 'result'] as const,
      registers: [registry],
    }),
    entries: new Gauge({ name: 'store_cache_entries', help: 'Keys held per cache', labelNames: ['cache'] as const, registers: [registry] }),
  };
}

/** The key of a tenant's value: the tenant id first, so equal names of two tenants never meet. */
export function tenantKey(tenantId: string, name: string): string {
  return `${tenantId}\u0000${name}`;
}

/** Its code makes `isDatabaseUnreachable` true: a database that hangs is as good as gone. */
class DeadlineError extends Error {
  readonly code = 'DB_DEADLINE';
  constructor(what: string, ms: number) {
    super(`${what}: the database did not answer within ${ms} ms`);
  }
}

/** `work`, or a DB_DEADLINE error after `ms` (the work itself carries on). */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(what, ms)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

interface Entry<V> {
  value: V;
  loadedAt: number;
  /** Served without asking the database until then. */
  freshUntil: number;
  stale: boolean;
  weight: number;
}

interface Flight<V> {
  promise: Promise<V>;
}

type Tally = { inc(): void };
const NO_TALLY: Tally = { inc() {} };

export class ReadThroughCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private weight = 0;
  private readonly flights = new Map<string, Flight<V>>();
  private readonly now: () => number;
  private readonly staleRetryMs: number;
  private readonly loadDeadlineMs: number;
  private readonly tally: Record<'hit' | 'miss' | 'stale' | 'error', Tally>;
  private readonly gauge: { set(n: number): void } | undefined;
  /** Since when this cache serves stale values, and how many; undefined while the database answers. */
  private staleEpisode: { since: number; served: number } | undefined;

  constructor(private readonly o: CacheOptions<V>) {
    this.now = o.now ?? Date.now;
    this.staleRetryMs = o.staleRetryMs ?? 1000;
    this.loadDeadlineMs = o.loadDeadlineMs ?? 2000;
    const m = o.metrics?.lookups;
    this.tally = {
      hit: m?.labels(o.name, 'hit') ?? NO_TALLY,
      miss: m?.labels(o.name, 'miss') ?? NO_TALLY,
      stale: m?.labels(o.name, 'stale') ?? NO_TALLY,
      error: m?.labels(o.name, 'error') ?? NO_TALLY,
    };
    this.gauge = o.metrics?.entries.labels(o.name);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The value of `key`: cached, else read with `load` (one read at a time per key). */
  async get(key: string, load: () => Promise<V>): Promise<V> {
    const entry = this.entries.get(key);
    if (entry && this.now() < entry.freshUntil) {
      // Least recently used goes first: a hit moves the key to the end.
      this.entries.delete(key);
      this.entries.set(key, entry);
      if (entry.stale) this.servedStale();
      else this.tally.hit.inc();
      return entry.value;
    }
    let flight = this.flights.get(key);
    if (!flight) {
      this.tally.miss.inc();
      flight = this.startFlight(key, load);
    }
    try {
      // Without a value to fall back on, waiting for the database is all there is to do.
      const fallback = entry && this.now() - entry.loadedAt <= this.o.maxStaleMs;
      return await (fallback ? withDeadline(flight.promise, this.loadDeadlineMs, this.o.name) : flight.promise);
    } catch (err) {
      const last = this.entries.get(key);
      if (!isDatabaseUnreachable(err) || !last) {
        this.tally.error.inc();
        throw err;
      }
      const now = this.now();
      if (now - last.loadedAt > this.o.maxStaleMs) {
        this.drop(key);
        this.tally.error.inc();
        throw err;
      }
      last.stale = true;
      last.freshUntil = Math.max(last.freshUntil, now + this.staleRetryMs);
      this.servedStale(err);
      return last.value;
    }
  }

  /** Drops `key` (this node changed it): no later read of it sees the old value, stale or not. */
  invalidate(key: string): void {
    this.drop(key);
    this.flights.delete(key);
  }

  /**
   * Replaces the value held for `key` with what this node just wrote there, as of now (a read in
   * flight, which may predate the write, is not stored). Does nothing when no value is held.
   */
  update(key: string, change: (value: V) => V): void {
    this.flights.delete(key);
    const held = this.entries.get(key);
    if (held) this.put(key, change(held.value));
  }

  clear(): void {
    this.entries.clear();
    this.flights.clear();
    this.weight = 0;
  }

  private drop(key: string): void {
    const held = this.entries.get(key);
    if (!held) return;
    this.entries.delete(key);
    this.weight -= held.weight;
    this.gauge?.set(this.entries.size);
  }

  private startFlight(key: string, load: () => Promise<V>): Flight<V> {
    const flight = {} as Flight<V>;
    // Registered before the read starts, so that a read failing at once still finds itself here.
    this.flights.set(key, flight);
    flight.promise = (async () => {
      try {
        const value = await load();
        if (this.flights.get(key) === flight) this.put(key, value);
        return value;
      } finally {
        if (this.flights.get(key) === flight) this.flights.delete(key);
      }
    })();
    return flight;
  }

  private put(key: string, value: V): void {
    const now = this.now();
    const weight = this.o.weigh?.(value) ?? 0;
    this.drop(key);
    const maxWeight = this.o.maxWeight ?? Infinity;
    while (this.entries.size && (this.entries.size >= this.o.maxEntries || this.weight + weight > maxWeight)) {
      this.drop(this.entries.keys().next().value!);
    }
    this.entries.set(key, { value, loadedAt: now, freshUntil: now + this.o.ttlMs, stale: false, weight });
    this.weight += weight;
    this.gauge?.set(this.entries.size);
    if (this.staleEpisode) {
      this.o.log?.info({ cache: this.o.name, staleServed: this.staleEpisode.served, forMs: now - this.staleEpisode.since }, 'database answers again: cache reads are fresh');
      this.staleEpisode = undefined;
    }
  }

  private servedStale(err?: unknown): void {
    this.tally.stale.inc();
    if (this.staleEpisode) {
      this.staleEpisode.served++;
      return;
    }
    this.staleEpisode = { since: this.now(), served: 1 };
    const code = (err as { code?: string } | undefined)?.code;
    this.o.log?.warn({ cache: this.o.name, code, maxStaleMs: this.o.maxStaleMs }, 'database unreachable: serving cached values last read from it');
  }
}
