/**
 * Tenants cannot point the switch at its own host: with the default DESTINATION_DENY, a dialplan's
 * SIP URI leg to loopback is not placed and a provider on loopback is not registered to, each with
 * a reason the tenant can read.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_DENIED_DESTINATIONS } from '../../server/sip/destinationPolicy.ts';
import { createSipAccount, signUp } from '../helpers/api.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

describe('destinations tenants may not reach', () => {
  let sw: TestSwitch;
  let target: dgram.Socket;
  const received: string[] = [];
  before(async () => {
    sw = await startTestSwitch('sqlite', { env: { DESTINATION_DENY: DEFAULT_DENIED_DESTINATIONS.join(','), PROVIDER_RETRY_MIN_SECONDS: '1' } });
    target = dgram.createSocket('udp4');
    target.on('message', (m) => received.push(m.toString('latin1')));
    await new Promise<void>((r) => target.bind(0, '127.0.0.1', r));
  });
  after(async () => {
    target.close();
    await sw.close();
  });

  test('a dialplan dialling a loopback SIP URI gets unavailable; nothing is sent there', async () => {
    const api = await signUp(sw.httpUrl);
    const alice = await createSipAccount(api);
    const port = target.address().port;
    await api.request('PUT', '/dialplans/inward', {
      source: `export default async function () {\n  const r = await dial('sip:admin@127.0.0.1:${port}');\n  log('result ' + r.result);\n}\n`,
    });
    assert.equal((await api.patch(`/sip-accounts/${alice.id}`, { dialplanIn: 'inward' })).status, 200);
    const caller = await TestPhone.open('udp', sw.sipPort);
    try {
      caller.sendRaw(
        caller.build({
          method: 'INVITE',
          uri: `sip:${alice.username}@127.0.0.1`,
          to: `sip:${alice.username}@127.0.0.1`,
          from: 'sip:stranger@example.net',
          headers: [`Contact: <sip:s@127.0.0.1:${caller.localPort}>`],
        }).text,
      );
      const final = await caller.waitFor((r) => /^SIP\/2\.0 [2-6]\d\d/.test(r) && !r.startsWith('SIP/2.0 100'), 5000);
      assert.match(final, /^SIP\/2\.0 480/);
    } finally {
      caller.close();
    }
    await sw.running.cdrWriter.flush();
    const list = await api.get('/cdrs?limit=1');
    const record = (await api.get(`/cdrs/${list.body.items[0].id}`)).body;
    assert.ok(
      record.log.some((l: { message: string }) => l.message === 'result unavailable'),
      JSON.stringify(record.log),
    );
    assert.deepEqual(received, []);
  });

  test('a provider on loopback is not registered to, and its status says why', async () => {
    const api = await signUp(sw.httpUrl);
    const port = target.address().port;
    const created = await api.post('/providers', { name: 'inside', host: '127.0.0.1', port, username: 'u', password: 'provider-pass-1', register: true });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const deadline = Date.now() + 5000;
    let status: { state: string; lastError: string | null } = created.body.status;
    while (status.state !== 'failed' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await api.get(`/providers/${created.body.id}`)).body.status;
    }
    assert.equal(status.state, 'failed');
    assert.match(status.lastError ?? '', /127\.0\.0\.1.*does not send/);
    assert.deepEqual(received, []);
  });
});
