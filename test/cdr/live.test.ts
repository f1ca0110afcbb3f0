/** The live view over HTTP: GET /calls through a call's life, and the per-tenant SSE stream. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { LiveCall } from '../../web/src/api/types.ts';
import { signUp, type ApiClient, type UncheckedJson } from '../helpers/api.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { CallScript } from './callScript.ts';

/** An SSE client reading `id:`/`data:` frames from a fetch body. */
async function openStream(url: string, key: string) {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { authorization: `Bearer ${key}` }, signal: abort.signal });
  const events: Array<{ id: number; data: UncheckedJson }> = [];
  let text = '';
  const reading = (async () => {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body!) {
        text += decoder.decode(chunk, { stream: true });
        let end;
        while ((end = text.indexOf('\n\n')) >= 0) {
          const frame = text.slice(0, end);
          text = text.slice(end + 2);
          const id = /^id: (\d+)$/m.exec(frame)?.[1];
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (id && data) events.push({ id: Number(id), data: JSON.parse(data) });
        }
      }
    } catch {
      /* aborted */
    }
  })();
  return { res, events, reading, close: () => abort.abort() };
}

const until = async (cond: () => boolean | Promise<boolean>, what: string) => {
  for (let i = 0; i < 200; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
};

describe('live view', () => {
  let sw: TestSwitch;
  let a: { api: ApiClient; id: string; key: string };
  let b: { api: ApiClient; id: string; key: string };
  before(async () => {
    sw = await startTestSwitch('sqlite');
    const tenant = async () => {
      const api = await signUp(sw.httpUrl);
      return { api, id: (await api.get('/me')).body.tenant.id as string, key: (await api.post('/api-keys', { name: 'live' })).body.key as string };
    };
    a = await tenant();
    b = await tenant();
  });
  after(async () => {
    await sw.close();
  });

  test('GET /calls follows a call: ringing, answered, ended', async () => {
    const t = Date.now();
    const c = new CallScript(sw.running.bus, a.id)
      .inbound('A', { from: 'alice', to: 'bob', account: 'alice', at: t })
      .outbound('B', { from: 'alice', to: 'bob', target: 'bob', account: 'bob', at: t + 1 })
      .ringing('B', t + 2);
    let calls = (await a.api.get<{ items: LiveCall[] }>('/calls')).body.items;
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.callId, c.callId);
    assert.deepEqual(
      calls[0]!.channels.map((ch) => [ch.id, ch.state]),
      [
        [c.id('A'), 'down'],
        [c.id('B'), 'ringing'],
      ],
    );
    assert.equal(calls[0]!.bridges.length, 0);
    assert.deepEqual((await b.api.get('/calls')).body.items, [], "not in another tenant's view");

    c.answered('B', t + 3)
      .answered('A', t + 4)
      .bridge('A', 'B');
    calls = (await a.api.get<{ items: LiveCall[] }>('/calls')).body.items;
    assert.deepEqual(
      calls[0]!.channels.map((ch) => [ch.id, ch.state]),
      [
        [c.id('A'), 'up'],
        [c.id('B'), 'up'],
      ],
    );
    assert.equal(calls[0]!.bridges.length, 1);
    assert.deepEqual(calls[0]!.bridges[0]!.channelIds, [c.id('A'), c.id('B')]);
    assert.equal(calls[0]!.channels[0]!.bridgeId, calls[0]!.bridges[0]!.id);

    c.hangup('B', { at: t + 5, cause: 'normal', by: 'callee' });
    calls = (await a.api.get<{ items: LiveCall[] }>('/calls')).body.items;
    assert.deepEqual(
      calls[0]!.channels.map((ch) => ch.id),
      [c.id('A')],
    );
    c.hangup('A', { at: t + 6, cause: 'normal', by: 'switch' }).end();
    assert.deepEqual((await a.api.get('/calls')).body.items, []);
  });

  test("SSE: the tenant's events in order with id = seq, never another tenant's; cleaned up on disconnect", async () => {
    const sa = await openStream(`${sw.httpUrl}/api/v1/events`, a.key);
    const sb = await openStream(`${sw.httpUrl}/api/v1/events`, b.key);
    assert.equal(sa.res.status, 200);
    assert.match(sa.res.headers.get('content-type')!, /^text\/event-stream/);
    await until(() => sw.running.liveView.listenerCount(a.id) === 1 && sw.running.liveView.listenerCount(b.id) === 1, 'subscriptions');

    const t = Date.now();
    const ca = new CallScript(sw.running.bus, a.id).inbound('A', { from: 'alice', to: 'bob', account: 'alice', at: t });
    const cb = new CallScript(sw.running.bus, b.id).inbound('A', { from: 'eve', to: 'mallory', account: 'eve', at: t });
    ca.ringing('A', t + 1)
      .hangup('A', { at: t + 2, cause: 'no-answer', by: 'switch', sipStatus: 480 })
      .end();
    cb.hangup('A', { at: t + 2, cause: 'rejected', by: 'switch', sipStatus: 403 }).end();
    await until(() => sa.events.length === 4 && sb.events.length === 3, 'events');

    assert.deepEqual(
      sa.events.map((e) => e.data.type),
      ['channel.created', 'channel.state', 'channel.hungup', 'call.ended'],
    );
    assert.ok(sa.events.every((e) => e.data.tenantId === a.id && e.data.callId === ca.callId));
    assert.ok(sb.events.every((e) => e.data.tenantId === b.id && e.data.callId === cb.callId));
    assert.deepEqual(
      sa.events.map((e) => e.id),
      sa.events.map((e) => e.data.seq),
    );
    assert.ok(
      sa.events.every((e, i) => i === 0 || e.id > sa.events[i - 1]!.id),
      'ascending ids',
    );
    assert.equal(sa.events[2]!.data.channel.id, ca.id('A'));

    sa.close();
    sb.close();
    await Promise.all([sa.reading, sb.reading]);
    await until(() => sw.running.liveView.listenerCount(a.id) === 0 && sw.running.liveView.listenerCount(b.id) === 0, 'unsubscribed');
  });

  test('SSE: a client that does not read is dropped once its buffer is full', async () => {
    const abort = new AbortController();
    const res = await fetch(`${sw.httpUrl}/api/v1/events`, { headers: { authorization: `Bearer ${a.key}` }, signal: abort.signal });
    assert.equal(res.status, 200);
    await until(() => sw.running.liveView.listenerCount(a.id) === 1, 'subscription');
    const c = new CallScript(sw.running.bus, a.id).inbound('A', { from: 'alice', to: 'bob', account: 'alice', at: Date.now() });
    const big = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 400 && sw.running.liveView.listenerCount(a.id) > 0; i++) {
      sw.running.bus.emit({ type: 'dialplan.log', tenantId: a.id, callId: c.callId, channelId: c.id('A'), level: 'info', message: big });
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(sw.running.liveView.listenerCount(a.id), 0, 'dropped');
    c.end();
    abort.abort();
  });

  test('unauthenticated requests are refused', async () => {
    assert.equal((await fetch(`${sw.httpUrl}/api/v1/events`)).status, 401);
    assert.equal((await fetch(`${sw.httpUrl}/api/v1/calls`)).status, 401);
  });
});
