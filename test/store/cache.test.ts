/**
 * The per-node read-through cache (server/store/cache.ts): TTL, one read per key at a time,
 * invalidation (also of a read in flight), stale-if-error bounded in age, deadlines, bounded size,
 * tenant keys, metrics and log lines. Time is a clock the test moves; deadlines use real timers.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createCacheMetrics, ReadThroughCache, tenantKey, type CacheOptions } from '../../server/store/cache.ts';

const unreachable = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:3306'), { code: 'ECONNREFUSED' });

function setup(o: Partial<CacheOptions<string | null>> = {}) {
  let now = 1_000_000;
  const lines: Array<{ level: number; msg: string; cache?: string; staleServed?: number }> = [];
  const log = pino({ level: 'trace' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  const registry = new Registry();
  const cache = new ReadThroughCache<string | null>({
    name: 'test',
    ttlMs: 1000,
    maxEntries: 100,
    maxStaleMs: 60_000,
    staleRetryMs: 500,
    log,
    metrics: createCacheMetrics(registry),
    now: () => now,
    ...o,
  });
  /** A loader that counts its calls and answers what `next` says. */
  const source = { calls: 0, next: (): Promise<string | null> => Promise.resolve('v1') };
  const load = () => {
    source.calls++;
    return source.next();
  };
  const lookups = async () => {
    const m = (await registry.getMetricsAsJSON()).find((x) => x.name === 'store_cache_lookups_total');
    return Object.fromEntries((m?.values ?? []).map((v) => [String(v.labels.result), v.value]));
  };
  return { cache, source, load, lines, lookups, advance: (ms: number) => (now += ms) };
}

describe('read-through cache', () => {
  test('a value is read once and served until its TTL has passed, then read again', async () => {
    const { cache, source, load, advance, lookups } = setup();
    assert.equal(await cache.get('k', load), 'v1');
    advance(999);
    assert.equal(await cache.get('k', load), 'v1');
    assert.equal(source.calls, 1);
    source.next = () => Promise.resolve('v2');
    advance(1);
    assert.equal(await cache.get('k', load), 'v2');
    assert.equal(source.calls, 2);
    assert.deepEqual(await lookups(), { miss: 2, hit: 1 });
  });

  test('readers of one key while it is read share that one read', async () => {
    const { cache, source, load } = setup();
    let release!: (v: string) => void;
    source.next = () => new Promise((r) => (release = r));
    const readers = [cache.get('k', load), cache.get('k', load), cache.get('k', load)];
    release('shared');
    assert.deepEqual(await Promise.all(readers), ['shared', 'shared', 'shared']);
    assert.equal(source.calls, 1);
  });

  test('absent values (null) are cached like any other', async () => {
    const { cache, source, load } = setup();
    source.next = () => Promise.resolve(null);
    assert.equal(await cache.get('nobody', load), null);
    assert.equal(await cache.get('nobody', load), null);
    assert.equal(source.calls, 1);
  });

  test('invalidate drops the value at once, and a read that was in flight is not stored', async () => {
    const { cache, source, load } = setup();
    await cache.get('k', load);
    cache.invalidate('k');
    let release!: (v: string) => void;
    source.next = () => new Promise((r) => (release = r));
    const early = cache.get('k', load); // a read that began before the write it races with
    cache.invalidate('k'); // the write's invalidation
    release('before-write');
    assert.equal(await early, 'before-write', 'its own reader still gets what it read');
    source.next = () => Promise.resolve('after-write');
    assert.equal(await cache.get('k', load), 'after-write', 'the next reader does not get the raced read');
    assert.equal(source.calls, 3);
  });

  test('update replaces a held value with what this node wrote; keys not held stay unheld', async () => {
    const { cache, source, load } = setup();
    await cache.get('k', load);
    cache.update('k', (v) => `${v}+written`);
    assert.equal(await cache.get('k', load), 'v1+written');
    cache.update('absent', () => 'x');
    source.next = () => Promise.resolve('read');
    assert.equal(await cache.get('absent', load), 'read');
  });

  test('stale-if-error: the database unreachable, the last value is served, the database asked again every staleRetryMs, and a log line marks start and end', async () => {
    const { cache, source, load, advance, lines, lookups } = setup();
    await cache.get('k', load);
    advance(1000);
    source.next = () => Promise.reject(unreachable());
    assert.equal(await cache.get('k', load), 'v1');
    assert.equal(source.calls, 2);
    advance(499);
    assert.equal(await cache.get('k', load), 'v1');
    assert.equal(source.calls, 2, 'not asked again within staleRetryMs');
    advance(1);
    assert.equal(await cache.get('k', load), 'v1');
    assert.equal(source.calls, 3, 'asked again after staleRetryMs');
    assert.deepEqual(await lookups(), { miss: 3, stale: 3 });
    const warn = lines.filter((l) => l.level === 40);
    assert.equal(warn.length, 1, 'one warning for the whole episode');
    assert.match(warn[0]!.msg, /database unreachable: serving cached values/);
    assert.equal(warn[0]!.cache, 'test');

    source.next = () => Promise.resolve('v2');
    advance(500);
    assert.equal(await cache.get('k', load), 'v2');
    const info = lines.filter((l) => l.level === 30);
    assert.equal(info.length, 1);
    assert.match(info[0]!.msg, /database answers again/);
    assert.equal(info[0]!.staleServed, 3);
  });

  test('stale-if-error is bounded: a value older than maxStaleMs is not served, and the error is', async () => {
    const { cache, source, load, advance } = setup({ maxStaleMs: 5000 });
    await cache.get('k', load);
    source.next = () => Promise.reject(unreachable());
    advance(5000);
    assert.equal(await cache.get('k', load), 'v1', 'exactly maxStaleMs old is still served');
    advance(501);
    await assert.rejects(cache.get('k', load), { code: 'ECONNREFUSED' });
    await assert.rejects(cache.get('k', load), { code: 'ECONNREFUSED' });
    assert.equal(cache.size, 0, 'the too-old value is gone');
  });

  test('only an unreachable database serves stale values: other errors reach the caller', async () => {
    const { cache, source, load, advance, lookups } = setup();
    await cache.get('k', load);
    for (const err of [
      Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }),
      Object.assign(new Error('syntax'), { code: 'ER_PARSE_ERROR' }),
      new TypeError('a bug'),
    ]) {
      advance(1000);
      source.next = () => Promise.reject(err);
      await assert.rejects(cache.get('k', load), err);
    }
    assert.equal((await lookups()).error, 3);
  });

  test('nothing held and the database unreachable: the error reaches the caller', async () => {
    const { cache, source, load } = setup();
    source.next = () => Promise.reject(unreachable());
    await assert.rejects(cache.get('k', load), { code: 'ECONNREFUSED' });
    source.next = () => Promise.resolve('v');
    assert.equal(await cache.get('k', load), 'v', 'a failed read leaves nothing behind');
  });

  test('a read that hangs: with a value held it is served after loadDeadlineMs; the late answer is stored', async () => {
    const { cache, source, load, advance } = setup({ loadDeadlineMs: 50 });
    await cache.get('k', load);
    advance(1000);
    let release!: (v: string) => void;
    source.next = () => new Promise((r) => (release = r));
    const started = Date.now();
    assert.equal(await cache.get('k', load), 'v1');
    assert.ok(Date.now() - started >= 45, 'served after the deadline');
    release('late');
    await new Promise((r) => setImmediate(r));
    advance(500);
    assert.equal(await cache.get('k', load), 'late');
  });

  test('a read that is slow with nothing held is waited for, not cut short', async () => {
    const { cache, source, load } = setup({ loadDeadlineMs: 20 });
    source.next = () => new Promise((r) => setTimeout(() => r('slow'), 80));
    assert.equal(await cache.get('k', load), 'slow');
  });

  test('bounded: beyond maxEntries the least recently used key goes', async () => {
    const { cache, source, load } = setup({ maxEntries: 3 });
    for (const k of ['a', 'b', 'c']) await cache.get(k, load);
    await cache.get('a', load); // a is now the most recently used
    await cache.get('d', load); // evicts b
    assert.equal(cache.size, 3);
    const before = source.calls;
    for (const k of ['a', 'c', 'd']) await cache.get(k, load);
    assert.equal(source.calls, before, 'a, c and d are held');
    await cache.get('b', load);
    assert.equal(source.calls, before + 1, 'b was evicted');
  });

  test('bounded by weight: big values push out old ones', async () => {
    const { cache, source } = setup({ maxEntries: 100, maxWeight: 10, weigh: (v) => v?.length ?? 0 });
    const put = (k: string, v: string) => cache.get(k, () => (source.calls++, Promise.resolve(v)));
    await put('a', 'xxxx');
    await put('b', 'xxxx');
    await put('c', 'xxxx'); // 12 > 10: a goes
    assert.equal(cache.size, 2);
    await put('d', 'x'.repeat(20)); // heavier than the bound alone: everything else goes, it stays
    assert.equal(cache.size, 1);
  });

  test("tenant keys: the same name in two tenants is two entries, and one tenant's invalidation leaves the other's", async () => {
    const { cache, source } = setup();
    assert.notEqual(tenantKey('tenant-a', 'default'), tenantKey('tenant-b', 'default'));
    const read = (t: string) => cache.get(tenantKey(t, 'default'), () => (source.calls++, Promise.resolve(`${t}-src`)));
    assert.equal(await read('tenant-a'), 'tenant-a-src');
    assert.equal(await read('tenant-b'), 'tenant-b-src');
    cache.invalidate(tenantKey('tenant-a', 'default'));
    assert.equal(await read('tenant-b'), 'tenant-b-src');
    assert.equal(source.calls, 2);
    assert.equal(await read('tenant-a'), 'tenant-a-src');
    assert.equal(source.calls, 3);
  });
});
