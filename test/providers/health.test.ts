/**
 * Provider health: every enabled provider is pinged with OPTIONS; any SIP answer makes it
 * reachable (with the round trip), silence makes it unreachable; both show in the API and the
 * event stream.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { signUp, type ApiClient } from '../helpers/api.ts';
import { optionsPeer } from '../helpers/optionsPeer.ts';
import type { ProviderHealth } from '../../web/src/api/types.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { FAST_SIP_TIMERS, PROVIDER_ENV } from './registrarHarness.ts';
import type { LiveEvent } from '../../server/calls/liveView.ts';
import { silence } from '../helpers/time.ts';

async function healthOf(api: ApiClient, id: string, want: (h: ProviderHealth) => boolean, what: string): Promise<ProviderHealth> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const h = (await api.get(`/providers/${id}`)).body.health;
    if (h && want(h)) return h;
    if (Date.now() > deadline) assert.fail(`${what} within 10 s: ${JSON.stringify(h)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('provider health (OPTIONS)', () => {
  let sw: TestSwitch;
  before(async () => {
    sw = await startTestSwitch('sqlite', { env: { ...PROVIDER_ENV, PROVIDER_PING_SECONDS: '1' }, sipTimers: FAST_SIP_TIMERS });
  });
  after(async () => {
    await sw.close();
  });

  test('a provider that answers (even 405) is reachable with its round trip; when it falls silent it is not, and the event stream says so', async () => {
    const peer = await optionsPeer('405 Method Not Allowed');
    const api = await signUp(sw.httpUrl);
    const tenantId = (await api.get('/me')).body.tenant.id as string;
    const events: LiveEvent[] = [];
    const stop = sw.running.liveView.subscribe(tenantId, (e) => events.push(e));
    try {
      const created = await api.post('/providers', { name: 'pinged', host: '127.0.0.1', port: peer.port });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const up = await healthOf(api, created.body.id, (h) => h.reachable, 'reachable');
      assert.equal(up.detail, '405 Method Not Allowed');
      assert.equal(typeof up.rttMs, 'number');
      peer.state.answering = false;
      const down = await healthOf(api, created.body.id, (h) => !h.reachable, 'unreachable');
      assert.match(down.detail, /did not answer OPTIONS/);
      assert.equal(down.rttMs, null);
      const changes = events.filter((e) => e.type === 'provider.health').map((e) => (e as { provider: { reachable: boolean } }).provider.reachable);
      assert.deepEqual(changes, [true, false]);
      assert.ok(peer.state.pings >= 2);
    } finally {
      stop();
      peer.close();
    }
  });

  test('test now: an OPTIONS at once, its outcome and the exchange as messages; silence is said; other tenants cannot', async () => {
    const peer = await optionsPeer('200 OK');
    const api = await signUp(sw.httpUrl);
    try {
      const created = await api.post('/providers', { name: 'tested', host: '127.0.0.1', port: peer.port });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const before = peer.state.pings;
      const r = await api.post(`/providers/${created.body.id}/test`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.ok(peer.state.pings > before, 'pinged at once');
      assert.equal(r.body.health.reachable, true);
      assert.equal(r.body.health.detail, '200 OK');
      assert.deepEqual(
        r.body.messages.map((m: { direction: string; firstLine: string }) => `${m.direction} ${m.firstLine}`),
        [`out OPTIONS sip:127.0.0.1:${peer.port} SIP/2.0`, 'in SIP/2.0 200 OK'],
      );
      assert.match(r.body.messages[0].text, /^Via: SIP\/2\.0\/UDP /m);
      assert.equal(r.body.register, null, 'no REGISTER for a provider that does not register');

      peer.state.answering = false;
      const silent = await api.post(`/providers/${created.body.id}/test`);
      assert.equal(silent.body.health.reachable, false);
      assert.match(silent.body.health.detail, /did not answer OPTIONS/);
      assert.deepEqual(
        silent.body.messages.map((m: { direction: string }) => m.direction),
        ['out'],
      );

      const other = await signUp(sw.httpUrl);
      assert.equal((await other.post(`/providers/${created.body.id}/test`)).status, 404);
    } finally {
      peer.close();
    }
  });

  test('a disabled provider is not pinged', async () => {
    const peer = await optionsPeer('200 OK');
    const api = await signUp(sw.httpUrl);
    try {
      const created = await api.post('/providers', { name: 'quiet', host: '127.0.0.1', port: peer.port, enabled: false });
      assert.equal(created.status, 201);
      await silence(2500);
      assert.equal(peer.state.pings, 0);
      assert.equal((await api.get(`/providers/${created.body.id}`)).body.health, null);
    } finally {
      peer.close();
    }
  });
});
