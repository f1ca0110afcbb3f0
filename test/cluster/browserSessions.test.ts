/** The softphone's passwords shared through Redis (server/sip/browserSessions.ts): one node issues, another accepts. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, describe, test } from 'node:test';
import { BrowserSessions } from '../../server/sip/browserSessions.ts';
import { computeHa1 } from '../../server/sip/digest.ts';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis.ts';
import { skipWithout } from '../interop/tools.ts';

const account = { tenantId: 't1', id: 'a1', username: 'alice' };
const alice = { tenantId: 't1', accountId: 'a1', username: 'alice' };

describe('shared through Redis [redis-server]', { skip: skipWithout('redis-server', 'redis-server') }, () => {
  let redis: PrivateRedis | undefined;
  after(() => redis?.stop());

  test('a password one node issued is known to another, capped, and revoked everywhere', async () => {
    redis = await startPrivateRedis();
    const a = new BrowserSessions('sip.example.com');
    const b = new BrowserSessions('sip.example.com');
    const ready = async () => {
      const c = redis!.client();
      if (c.status !== 'ready') await once(c, 'ready');
      return c;
    };
    const shared = await ready();
    a.useRedis(await ready());
    b.useRedis(await ready());
    const { password } = await a.issue(alice, 60_000);
    assert.deepEqual(await b.ha1s(account, 'MD5'), [computeHa1('MD5', 'alice', 'sip.example.com', password)]);
    assert.deepEqual(await b.ha1s({ ...account, tenantId: 't2' }, 'MD5'), []);
    const ttl = await shared.pttl('sipswitch:browser-sessions:alice');
    assert.ok(ttl > 50_000 && ttl <= 60_000, `the hash goes when its passwords expire: ${ttl} ms`);
    for (let i = 0; i < 12; i++) await a.issue(alice, 60_000);
    assert.equal((await b.ha1s(account, 'MD5')).length, 8);
    await b.revoke('alice');
    assert.deepEqual(await b.ha1s(account, 'MD5'), []);
    // a still holds its own in memory (Redis out of reach must not lock out the node that issued them)…
    // …but a revoke on a goes everywhere it can.
    await a.revoke('alice');
    assert.deepEqual(await a.ha1s(account, 'MD5'), []);
  });
});
