/**
 * A configured provider's address is never banned: the addresses its host resolves to and the
 * addresses (or narrow ranges) it lists. Wide ranges a tenant lists do not shield anyone, and the
 * per-account blocks still apply to a provider's address.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSipAccount, signUp, type ApiClient } from '../helpers/api.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dnsServer.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

describe('provider addresses and bans', () => {
  let sw: TestSwitch;
  let dns: TestDnsServer;
  let carrierTenant: ApiClient;
  before(async () => {
    dns = await startDnsServer();
    dns.set('carrier.test', 'A', ['127.0.0.6']);
    sw = await startTestSwitch('sqlite', { env: { DNS_SERVERS: dns.address } });
    carrierTenant = await signUp(sw.httpUrl);
    const add = async (api: ApiClient, body: Record<string, unknown>) => {
      const r = await api.post('/providers', { transport: 'udp', ...body });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    };
    await add(carrierTenant, { name: 'carrier', host: 'carrier.test' });
    await add(carrierTenant, { name: 'office', host: '192.0.2.10', sourceAddresses: ['127.0.0.7'] });
    // A tenant cannot shield a whole network by listing it (the API takes up to a /16).
    const wide = await signUp(sw.httpUrl);
    await add(wide, { name: 'network', host: '192.0.2.11', sourceAddresses: ['127.0.0.0/16'] });
    await sw.running.sip.providerAddresses.refresh();
  });
  after(async () => {
    await sw?.close();
    await dns?.close();
  });

  /** Five usernames failing with real challenges: what bans an address. */
  async function scan(from: string): Promise<TestPhone> {
    const scanner = await TestPhone.open('udp', sw.sipPort, from);
    for (let i = 0; i < 5; i++) {
      const r = await scanner.register({ user: `scan${i}${from.replaceAll('.', '')}`, password: 'guess-guess-1' });
      assert.equal(r.final.status, 403);
    }
    return scanner;
  }

  const answered = async (p: TestPhone) => {
    const probe = p.build({ method: 'OPTIONS' });
    p.sendRaw(probe.text);
    return !(await p.quiet((r) => r.includes(probe.branch), 500));
  };

  test('the address a provider host resolves to is not banned', async () => {
    const p = await scan('127.0.0.6');
    try {
      assert.ok(await answered(p));
    } finally {
      p.close();
    }
  });

  test('an address a provider lists is not banned, yet an account attacked from it is still blocked', async () => {
    const acct = await createSipAccount(carrierTenant);
    const p = await scan('127.0.0.7');
    try {
      assert.ok(await answered(p));
      for (let i = 0; i < 10; i++) assert.equal((await p.register({ user: acct.username, password: 'not-the-password' })).final.status, 403);
      assert.equal((await p.register({ user: acct.username, password: acct.password })).final.status, 403, 'the (account, address) pair is blocked');
    } finally {
      p.close();
    }
  });

  test('an address only inside ranges wider than a /24 is banned like any other', async () => {
    const p = await scan('127.0.0.8');
    try {
      assert.equal(await answered(p), false);
    } finally {
      p.close();
    }
  });
});
