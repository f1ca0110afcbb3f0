/**
 * Issue 13, "Outbound destinations": a SIP URI a dialplan dials is resolved like a provider's host
 * (RFC 3263 with DNS_SERVERS: SRV, then A), and the deny list is checked on every address it
 * resolves to, never on the name. A name that resolves to a denied address is not dialled there;
 * one that also resolves to an allowed address is dialled at that one.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { startDnsServer, type TestDnsServer } from '../helpers/dnsServer.ts';
import { autoAnswer, invite } from '../helpers/sipDialog.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { dialplanSource, newTenant, type Tenant } from './harness.ts';

describe('SIP URI dials resolve through DNS_SERVERS and are checked on their addresses (sqlite)', () => {
  let sw: TestSwitch;
  let dns: TestDnsServer;
  let denied: dgram.Socket;
  const received: string[] = [];
  const closers: Array<() => void> = [];
  before(async () => {
    dns = await startDnsServer();
    // 127.0.0.2 stands for an address inside the switch's own network.
    denied = dgram.createSocket('udp4');
    denied.on('message', (m) => received.push(m.toString('latin1')));
    await new Promise<void>((r) => denied.bind(0, '127.0.0.2', r));
    sw = await startTestSwitch('sqlite', { env: { DNS_SERVERS: dns.address, DESTINATION_DENY: '127.0.0.2/32' } });
  });
  after(async () => {
    for (const c of closers) c();
    denied.close();
    await sw.close();
    await dns.close();
  });

  /** A tenant whose account `front` runs `dial(uri)` for calls to it; returns the caller's final status line. */
  async function dialVia(t: Tenant, uri: string): Promise<string> {
    const front = await t.account();
    await t.dialplan('out', dialplanSource(`  const r = await dial(${JSON.stringify(uri)}, { timeout: 5 });\n  log('dial ' + r.result);`));
    assert.equal((await t.api.patch(`/sip-accounts/${front.id}`, { dialplanIn: 'out' })).status, 200);
    const caller = await TestPhone.open('udp', sw.sipPort);
    closers.push(() => caller.close());
    return (await invite(caller, { uri: `sip:${front.username}@127.0.0.1:${sw.sipPort}` })).split('\r\n')[0]!;
  }

  async function target(party: string) {
    const phone = await TestPhone.open('udp', sw.sipPort);
    const a = autoAnswer(phone, party);
    closers.push(a.stop, () => phone.close());
    return { port: phone.localPort, invites: a.invites };
  }

  test('a name resolved through the configured DNS server is dialled (A record)', async () => {
    const callee = await target('callee');
    dns.set('callee.test', 'A', ['127.0.0.1']);
    assert.match(await dialVia(await newTenant(sw), `sip:bob@callee.test:${callee.port}`), /^SIP\/2\.0 200 /);
    assert.equal(callee.invites.length, 1);
    assert.match(callee.invites[0]!.split('\r\n')[0]!, new RegExp(`^INVITE sip:bob@callee\\.test:${callee.port} `), 'the Request-URI keeps the name');
  });

  test('a name with SRV records is dialled at the server and port they name', async () => {
    const callee = await target('srv-callee');
    dns.set('_sip._udp.srv.test', 'SRV', [{ priority: 10, weight: 1, port: callee.port, target: 'host.srv.test' }]);
    dns.set('host.srv.test', 'A', ['127.0.0.1']);
    assert.match(await dialVia(await newTenant(sw), 'sip:bob@srv.test'), /^SIP\/2\.0 200 /);
    assert.equal(callee.invites.length, 1);
  });

  test('a name without a transport: its NAPTR record chooses the transport and names the SRV records to use', async () => {
    const callee = await target('naptr-callee');
    dns.set('naptr.test', 'NAPTR', [
      // TLS ranks first, but a sip: URI without a transport passes it over (sips: asks for TLS).
      { order: 10, preference: 10, flags: 's', services: 'SIPS+D2T', regexp: '', replacement: '_sips._tcp.naptr.test' },
      { order: 20, preference: 10, flags: 's', services: 'SIP+D2U', regexp: '', replacement: '_sip._udp.servers.naptr.test' },
    ]);
    dns.set('_sip._udp.servers.naptr.test', 'SRV', [{ priority: 10, weight: 1, port: callee.port, target: 'host.naptr.test' }]);
    dns.set('host.naptr.test', 'A', ['127.0.0.1']);
    assert.match(await dialVia(await newTenant(sw), 'sip:bob@naptr.test'), /^SIP\/2\.0 200 /);
    assert.equal(callee.invites.length, 1);
    assert.equal(dns.queries('naptr.test', 'NAPTR'), 1);
    assert.equal(dns.queries('_sip._udp.naptr.test', 'SRV'), 0, 'the SRV name comes from the NAPTR record');
  });

  test('a name resolving to a denied address is not dialled there; with an allowed address too, that one is used', async () => {
    const port = denied.address().port;
    dns.set('inside.test', 'A', ['127.0.0.2']);
    assert.match(await dialVia(await newTenant(sw), `sip:admin@inside.test:${port}`), /^SIP\/2\.0 480 /);
    assert.deepEqual(received, [], 'nothing was sent to the denied address');

    const callee = await target('mixed');
    dns.set('mixed.test', 'A', ['127.0.0.2', '127.0.0.1']);
    assert.match(await dialVia(await newTenant(sw), `sip:bob@mixed.test:${callee.port}`), /^SIP\/2\.0 200 /);
    assert.equal(callee.invites.length, 1);
    assert.deepEqual(received, [], 'still nothing to the denied address');
  });
});
