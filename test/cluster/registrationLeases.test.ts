/**
 * Provider registration leases in Redis (server/providers/registrationLeases.ts), two nodes on a
 * private redis-server: one node holds a provider and keeps it by renewing; when it stops renewing
 * (it died) another takes it once the lease runs out, not before; a released lease is free at once.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { RedisRegistrationLeases } from '../../server/providers/registrationLeases.ts';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis.ts';
import { elapse } from '../helpers/time.ts';
import { skipWithout } from '../interop/tools.ts';

const PERIOD_MS = 600;

describe('provider registration leases in Redis', { skip: skipWithout('redis-server', 'redis-server') }, () => {
  let redis: PrivateRedis;
  before(async () => {
    redis = await startPrivateRedis();
  });
  after(() => redis?.stop());

  async function node(id: string): Promise<RedisRegistrationLeases> {
    const client = redis.client();
    if (client.status !== 'ready') await once(client, 'ready');
    return new RedisRegistrationLeases(client, id, PERIOD_MS);
  }

  test('one node holds a provider while it renews; another takes it only after the lease ran out', async () => {
    const [a, b] = [await node('a'), await node('b')];
    assert.equal(await a.hold('p1'), true);
    assert.equal(await b.hold('p1'), false);
    // a renews within the period, twice over a span longer than one lease: b never gets it.
    for (let i = 0; i < 3; i++) {
      await elapse(PERIOD_MS / 3); // a renewal interval
      assert.equal(await a.hold('p1'), true);
      assert.equal(await b.hold('p1'), false);
    }
    // a stops renewing (it died): b takes it once the lease has run out.
    await elapse(PERIOD_MS + 100); // the lease runs out
    assert.equal(await b.hold('p1'), true);
    assert.equal(await a.hold('p1'), false, 'a node back from the dead does not take it back');
  });

  test('a released lease is free at once, and only its holder can release it', async () => {
    const [a, b] = [await node('a'), await node('b')];
    assert.equal(await a.hold('p2'), true);
    await b.release('p2');
    assert.equal(await b.hold('p2'), false, "b cannot release a's lease");
    await a.release('p2');
    assert.equal(await b.hold('p2'), true);
  });
});
