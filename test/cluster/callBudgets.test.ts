/**
 * The call limits counted in Redis (server/calls/redisCallBudgets.ts): two budgets objects stand
 * for two nodes sharing one private redis-server. A tenant's cap holds across them, also when
 * they are asked at the same moment; a restarted or dead node's calls can be dropped; without
 * Redis each node goes on with its own counts, and writes them back when Redis returns.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import type { Redis } from 'ioredis';
import type { CallLimits } from '../../server/calls/callBudgets.ts';
import { RedisCallBudgets } from '../../server/calls/redisCallBudgets.ts';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis.ts';
import { skipWithout } from '../interop/tools.ts';

const LIMITS: CallLimits = { perTenant: 3, perMinute: 1000, strangersPerTenant: 2, strangersPerSource: 1, invitesPerMinutePerSource: 1000 };
const skip = skipWithout('redis-server', 'redis-server');

describe('call limits shared through Redis', { skip }, () => {
  let redis: PrivateRedis;
  let n = 0;
  before(async () => {
    redis = await startPrivateRedis();
  });
  after(() => redis?.stop());

  async function node(id: string, limits = LIMITS): Promise<{ budgets: RedisCallBudgets; client: Redis }> {
    const client = redis.client();
    if (client.status !== 'ready') await once(client, 'ready');
    const budgets = new RedisCallBudgets(client, limits, id, pino({ level: 'silent' }));
    await budgets.resync();
    return { budgets, client };
  }
  const tenant = () => `tenant-${++n}`;

  test("a tenant's calls at once are capped across nodes, and a released place is free on every node", async () => {
    const [a, b] = [(await node('a')).budgets, (await node('b')).budgets];
    const t = tenant();
    for (const x of [a, b, a]) {
      assert.equal(await x.admit('phone', t, '192.0.2.1'), undefined);
      x.hold('phone', t, '192.0.2.1');
    }
    const refused = await b.admit('phone', t, '192.0.2.1');
    assert.equal(refused?.limit, 'calls-at-once');
    assert.equal(refused?.retryAfterSeconds, 30);
    // Providers' calls have a budget of their own.
    assert.equal(await b.admit('provider', t, '192.0.2.9'), undefined);
    b.hold('provider', t, '192.0.2.9');
    a.release('phone', t, '192.0.2.1');
    assert.equal(await b.admit('phone', t, '192.0.2.1'), undefined, 'the place a released call left is free on the other node');
    b.hold('phone', t, '192.0.2.1');
    assert.equal((await a.admit('phone', t, '192.0.2.1'))?.limit, 'calls-at-once');
  });

  test('admissions at the same moment on two nodes take no more than the cap', async () => {
    const [a, b] = [(await node('a')).budgets, (await node('b')).budgets];
    const t = tenant();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).admit('phone', t, '192.0.2.1')));
    assert.equal(results.filter((r) => r === undefined).length, LIMITS.perTenant);
  });

  test('strangers: per source and per tenant, across nodes', async () => {
    const [a, b] = [(await node('a')).budgets, (await node('b')).budgets];
    const t = tenant();
    assert.equal(await a.admit('stranger', t, '198.51.100.1'), undefined);
    a.hold('stranger', t, '198.51.100.1');
    assert.equal((await b.admit('stranger', t, '198.51.100.1'))?.limit, 'source-calls-at-once');
    assert.equal(await b.admit('stranger', t, '198.51.100.2'), undefined);
    b.hold('stranger', t, '198.51.100.2');
    assert.equal((await a.admit('stranger', t, '198.51.100.3'))?.limit, 'stranger-calls-at-once');
  });

  test('calls per minute are one bucket for the cluster', async () => {
    const limits = { ...LIMITS, perTenant: 100, perMinute: 3 };
    const [a, b] = [(await node('a', limits)).budgets, (await node('b', limits)).budgets];
    const t = tenant();
    const admitted: boolean[] = [];
    for (const x of [a, b, a, b]) {
      const r = await x.admit('phone', t, '192.0.2.1');
      if (!r) x.hold('phone', t, '192.0.2.1');
      admitted.push(r === undefined);
    }
    assert.deepEqual(admitted, [true, true, true, false]);
    const refused = await a.admitPlaced(t);
    assert.equal(refused?.limit, 'calls-per-minute');
    assert.ok(refused!.retryAfterSeconds >= 1 && refused!.retryAfterSeconds <= 20, `retry after ${refused!.retryAfterSeconds} s`);
  });

  test("a dead node's calls are dropped from every budget by forgetNode", async () => {
    const [a, b] = [(await node('dead')).budgets, (await node('b')).budgets];
    const t = tenant();
    for (let i = 0; i < 3; i++) {
      assert.equal(await a.admit('phone', t, '192.0.2.1'), undefined);
      a.hold('phone', t, '192.0.2.1');
    }
    assert.equal((await b.admit('phone', t, '192.0.2.1'))?.limit, 'calls-at-once');
    assert.ok((await b.forgetNode('dead')) >= 1);
    assert.equal(await b.admit('phone', t, '192.0.2.1'), undefined);
  });

  test('without Redis a node counts its own calls; when Redis comes back empty, it writes them back', async () => {
    const a = await node('a');
    const b = await node('b');
    const t = tenant();
    for (let i = 0; i < 2; i++) {
      assert.equal(await a.budgets.admit('phone', t, '192.0.2.1'), undefined);
      a.budgets.hold('phone', t, '192.0.2.1');
    }
    await redis.kill();
    // Node a alone: its own two calls and the cap of three.
    assert.equal(await a.budgets.admit('phone', t, '192.0.2.1'), undefined);
    a.budgets.hold('phone', t, '192.0.2.1');
    assert.equal((await a.budgets.admit('phone', t, '192.0.2.1'))?.limit, 'calls-at-once');
    a.budgets.release('phone', t, '192.0.2.1');
    await redis.start();
    // Each node writes its counts back when its connection is ready again; node b then sees a's two calls.
    await Promise.all([a.client.status === 'ready' ? undefined : once(a.client, 'ready'), b.client.status === 'ready' ? undefined : once(b.client, 'ready')]);
    await a.budgets.resync();
    assert.equal(await b.budgets.admit('phone', t, '192.0.2.1'), undefined);
    b.budgets.hold('phone', t, '192.0.2.1');
    assert.equal((await b.budgets.admit('phone', t, '192.0.2.1'))?.limit, 'calls-at-once');
  });
});
