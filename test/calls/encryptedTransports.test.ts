/**
 * Issue 18, calls over encrypted and connection-bound transports: a phone over TLS calls a browser
 * over a secure WebSocket (each reached over its own connection), and the call record says which
 * legs were encrypted; a browser whose WebSocket closes mid-call ends its call (the other side gets
 * a BYE, the record says "connection-lost"); a dialplan dials `sips:` and `;transport=tls` URIs over
 * TLS, found through DNS (`_sips._tcp` SRV), and a peer whose certificate does not name the host is
 * not called. Phones are played by hand so every request is seen.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { leaf, makeCa, type CertificatePair } from '../helpers/certificates.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dnsServer.ts';
import { answering, autoAnswer, inDialog, invite, placeAuthenticated, sdp } from '../helpers/sipDialog.ts';
import { TestPhone, type PhoneTransport } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { dialplanSource, newTenant, recordOf, type Account, type Tenant } from './harness.ts';

/** A SIP peer on a TLS port presenting `pair`: answers INVITE with 200 (and SDP), BYE with 200; keeps the requests. */
async function tlsCallee(pair: CertificatePair) {
  const requests: string[] = [];
  const sockets = new Set<tls.TLSSocket>();
  const server = tls.createServer(pair, (s) => {
    sockets.add(s);
    s.on('error', () => {});
    let buffered = '';
    s.on('data', (d: Buffer) => {
      buffered += d.toString('latin1');
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/^content-length:\s*(\d+)/im.exec(buffered.slice(0, end))?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        const message = buffered.slice(0, end + 4 + length);
        buffered = buffered.slice(end + 4 + length);
        if (message.startsWith('SIP/2.0')) continue;
        requests.push(message);
        const head = message.slice(0, end).split('\r\n');
        const keep = head.filter((l) => /^(via|from|call-id|cseq):/i.test(l));
        const to = head.find((l) => /^to:/i.test(l))!;
        const reply = (status: string, extra: string[], body = '') =>
          s.write([`SIP/2.0 ${status}`, ...keep, /;tag=/.test(to) ? to : `${to};tag=callee`, ...extra, `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n'));
        if (message.startsWith('INVITE ')) reply('200 OK', ['Contact: <sip:callee@127.0.0.1;transport=tls>', 'Content-Type: application/sdp'], sdp('callee'));
        else if (message.startsWith('BYE ')) reply('200 OK', []);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      }),
  };
}

describe('calls over TLS and WebSocket (sqlite)', () => {
  let sw: TestSwitch;
  let dns: TestDnsServer;
  let dir: string;
  let ca: CertificatePair;
  const closers: Array<() => unknown> = [];
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'sipswitch-enc-'));
    ca = await makeCa();
    writeFileSync(path.join(dir, 'ca.crt'), ca.cert);
    dns = await startDnsServer();
    sw = await startTestSwitch('sqlite', { env: { DNS_SERVERS: dns.address, SIP_TLS_CA_FILE: path.join(dir, 'ca.crt') } });
  });
  after(async () => {
    for (const c of closers.reverse()) await c();
    await sw?.close();
    await dns?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The tenant's one call record, in full. */
  async function onlyRecord(t: Tenant) {
    await sw.running.cdrWriter.flush();
    const items = (await t.api.get('/cdrs')).body.items as Array<{ callId: string }>;
    assert.equal(items.length, 1, JSON.stringify(items));
    return recordOf(sw, t, items[0]!.callId);
  }

  /** A phone over `transport` (connected to the port that transport listens on). */
  async function phone(transport: PhoneTransport): Promise<TestPhone> {
    const port = { udp: sw.sipPort, tcp: sw.sipPort, tls: sw.running.tlsPort!, ws: sw.running.httpPort, wss: sw.running.httpsPort! }[transport];
    const origin = transport === 'ws' ? { origin: `http://127.0.0.1:${port}` } : transport === 'wss' ? { origin: `https://127.0.0.1:${port}` } : {};
    const p = await TestPhone.open(transport, port, '127.0.0.1', origin);
    closers.push(() => p.close());
    return p;
  }

  /** `account` registered over `transport`, answering every call. */
  async function answeringPhone(account: Account, transport: PhoneTransport) {
    const p = await phone(transport);
    const a = autoAnswer(p, account.username);
    closers.push(a.stop);
    assert.equal((await p.register({ user: account.username, password: account.password })).final.status, 200);
    return { phone: p, invites: a.invites };
  }

  test('a phone over TLS calls a browser over wss://: each is reached over its connection, and the record says both legs were encrypted', async () => {
    const t = await newTenant(sw);
    const [alice, bob] = [await t.account(), await t.account()];
    const browser = await answeringPhone(bob, 'wss');
    const deskPhone = await phone('tls');
    const call = await placeAuthenticated(deskPhone, sw.running.tlsPort!, alice, bob.username);
    assert.equal(browser.invites.length, 1);
    assert.match(browser.invites[0]!, /^Via: SIP\/2\.0\/WSS /m, 'the browser was called over its secure WebSocket');
    assert.match(await inDialog(deskPhone, call, 'BYE'), /^SIP\/2\.0 200 /);

    const record = await onlyRecord(t);
    assert.equal(record.status, 'answered');
    const byDirection = Object.fromEntries(record.legs.map((l) => [l.direction, l]));
    assert.equal(byDirection.inbound?.transport, 'tls');
    assert.equal(byDirection.outbound?.transport, 'wss');
    assert.ok(
      record.legs.every((l) => l.encrypted === true),
      JSON.stringify(record.legs),
    );
  });

  test('a browser whose WebSocket closes mid-call: the other side gets a BYE and the record says the connection was lost', async () => {
    const t = await newTenant(sw);
    const [alice, bob] = [await t.account(), await t.account()];
    const browser = await answeringPhone(bob, 'ws');
    const deskPhone = await phone('udp');
    const byes = answering(deskPhone);
    closers.push(byes.stop);
    const call = await placeAuthenticated(deskPhone, sw.sipPort, alice, bob.username);
    browser.phone.close();
    await deskPhone.waitFor((m) => m.startsWith('BYE ') && m.includes(call.callId), 5000);

    const record = await onlyRecord(t);
    const browserLeg = record.legs.find((l) => l.direction === 'outbound')!;
    assert.equal(browserLeg.hangupCause, 'connection-lost');
    assert.equal(browserLeg.transport, 'ws');
    assert.equal(browserLeg.encrypted, false);
    assert.equal(record.legs.find((l) => l.direction === 'inbound')!.hangupCause, 'connection-lost');
  });

  test('a dialplan dials sips: (found by its _sips._tcp SRV record) and ;transport=tls URIs over TLS; a certificate for another name is refused', async () => {
    const good = await tlsCallee(await leaf(ca, ['callee.test']));
    const impostor = await tlsCallee(await leaf(ca, ['someone-else.test']));
    closers.push(good.close, impostor.close);
    dns.set('_sips._tcp.callee.test', 'SRV', [{ priority: 1, weight: 1, port: good.port, target: 'callee.test' }]);
    dns.set('callee.test', 'A', ['127.0.0.1']);
    dns.set('impostor.test', 'A', ['127.0.0.1']);

    const dialVia = async (uri: string) => {
      const t = await newTenant(sw);
      const front = await t.account();
      await t.dialplan('out', dialplanSource(`  await dial(${JSON.stringify(uri)}, { timeout: 5 });`));
      assert.equal((await t.api.patch(`/sip-accounts/${front.id}`, { dialplanIn: 'out' })).status, 200);
      const caller = await phone('udp');
      return (await invite(caller, { uri: `sip:${front.username}@127.0.0.1:${sw.sipPort}` })).split('\r\n')[0]!;
    };

    assert.match(await dialVia('sips:bob@callee.test'), /^SIP\/2\.0 200 /);
    assert.match(good.requests[0]!, /^INVITE sips:bob@callee\.test SIP\/2\.0/);
    assert.match(good.requests[0]!, /^Via: SIP\/2\.0\/TLS /m);
    const before = good.requests.length;
    assert.match(await dialVia(`sip:carol@callee.test:${good.port};transport=tls`), /^SIP\/2\.0 200 /);
    assert.match(good.requests[before]!, /^INVITE sip:carol@callee\.test:\d+;transport=tls SIP\/2\.0/);

    assert.doesNotMatch(await dialVia(`sips:dave@impostor.test:${impostor.port}`), /^SIP\/2\.0 200 /);
    assert.deepEqual(impostor.requests, [], 'nothing was sent to a peer whose certificate names another host');
  });
});
