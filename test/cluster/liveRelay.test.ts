/**
 * The live view across nodes (server/calls/redisLiveRelay.ts): two nodes, each its own event bus
 * and live view, share a private redis-server. A call on one node is in the other's view and
 * reaches its tenant's listeners there (and ends there when it ends); a provider's state change
 * too; no node gets its own events back, and nothing of another tenant. With Redis stopped, each
 * node goes on with its own calls; once Redis is back, events cross again.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { EventBus } from '../../server/calls/events.ts';
import { LiveView, type LiveEvent } from '../../server/calls/liveView.ts';
import { RedisLiveRelay } from '../../server/calls/redisLiveRelay.ts';
import type { ChannelSnapshot } from '../../contract/calls.ts';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis.ts';
import { eventually } from '../helpers/time.ts';
import { skipWithout } from '../interop/tools.ts';

const skip = skipWithout('redis-server', 'redis-server');
const silent = pino({ level: 'silent' });

interface Node {
  bus: EventBus;
  live: LiveView;
  relay: RedisLiveRelay;
}

const channel = (id: string): ChannelSnapshot =>
  ({ id, direction: 'inbound', state: 'ringing', from: { user: 'alice' }, to: { user: 'bob' }, createdAt: Date.now() }) as unknown as ChannelSnapshot;

describe('the live view across nodes, through Redis', { skip }, () => {
  let redis: PrivateRedis;
  const nodes: Node[] = [];
  before(async () => {
    redis = await startPrivateRedis();
  });
  after(async () => {
    for (const n of nodes) {
      n.relay.stop();
      n.live.stop();
    }
    await redis?.stop();
  });

  async function node(id: string): Promise<Node> {
    const client = redis.client();
    if (client.status !== 'ready') await once(client, 'ready');
    const bus = new EventBus(id, () => {});
    const live = new LiveView(bus);
    const relay = await RedisLiveRelay.start(client, live, id, silent);
    const n = { bus, live, relay };
    nodes.push(n);
    return n;
  }

  function heard(n: Node, tenantId: string): LiveEvent[] {
    const events: LiveEvent[] = [];
    n.live.subscribe(tenantId, (e) => events.push(e));
    return events;
  }

  test("a call on one node is in the other's view and stream, and leaves it when it ends; no node hears itself twice", async () => {
    const [a, b] = [await node('node-a'), await node('node-b')];
    // Both subscribed before the first event: a subscription is in place once Redis answered it.
    await eventually('both nodes subscribed', async () => {
      const probe = redis.client();
      if (probe.status !== 'ready') await once(probe, 'ready');
      const [, count] = (await probe.pubsub('NUMSUB', 'sipswitch:live')) as [string, number];
      return count >= 2;
    });
    const onA = heard(a, 't1');
    const onB = heard(b, 't1');
    const otherTenantOnB = heard(b, 't2');
    a.bus.emit({ type: 'channel.created', tenantId: 't1', callId: 'call-1', channel: channel('ch-1') });
    await eventually("node b's view holds node a's call", () => b.live.calls('t1').length === 1, 5000);
    assert.deepEqual(
      b.live.calls('t1')[0]!.channels.map((c) => c.id),
      ['ch-1'],
    );
    assert.equal(onB.length, 1, "b's listener got the event");
    a.bus.emit({ type: 'call.ended', tenantId: 't1', callId: 'call-1' } as never);
    await eventually('the call left b’s view', () => b.live.calls('t1').length === 0, 5000);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(
      onA.map((e) => e.type),
      ['channel.created', 'call.ended'],
      'a heard its own events once',
    );
    assert.deepEqual(otherTenantOnB, [], 'nothing of another tenant');

    a.live.providerStatus({ tenantId: 't1', providerId: 'p1', name: 'main', state: 'registered', updatedAt: Date.now() } as never);
    await eventually('a provider state change reaches b’s stream', () => onB.some((e) => e.type === 'provider.status'), 5000);
  });

  test('with Redis stopped each node keeps its own calls; once it is back, events cross again', async () => {
    const [a, b] = [nodes[0]!, nodes[1]!];
    await redis.kill();
    a.bus.emit({ type: 'channel.created', tenantId: 't3', callId: 'call-2', channel: channel('ch-2') });
    assert.equal(a.live.calls('t3').length, 1, 'the node’s own view does not wait for Redis');
    await redis.start();
    await eventually(
      'events cross again',
      () => {
        a.bus.emit({ type: 'channel.state', tenantId: 't3', callId: 'call-2', channel: { ...channel('ch-2'), state: 'up' } } as never);
        return b.live.calls('t3').length === 1;
      },
      15_000,
      250,
    );
  });
});
