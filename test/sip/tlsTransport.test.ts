/**
 * SIP over TLS, and registrations bound to their connection (TCP, TLS): a phone registered over a
 * connection is reached over it, whatever its Contact says and from wherever it registered last;
 * its binding goes when the connection closes (unless it moved to another connection), and the
 * bindings of a previous run's connections are gone after a restart. The TLS port refuses plain
 * TCP and broken handshakes with one log line, and nobody else notices.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { createSipAccount, signUp, type ApiClient } from '../helpers/api.ts';
import { DIALECTS, skipUnless } from '../helpers/databases.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { eventually } from '../helpers/time.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { peerOfBinding } from '../../server/sip/flowBindings.ts';
import type { SipRequest } from '../../server/sip/message.ts';
import { newBranch } from '../../server/sip/clientTransactions.ts';

interface BindingView {
  id: string;
  username: string;
  contact: string;
  source: { address: string; port: number; transport: string };
}

/** Resolves when the other end closed the socket (it is read, so that its end is seen). */
function closed(socket: net.Socket): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  socket.resume();
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

/** An OPTIONS from the switch to the peer its binding names: where does it arrive? */
function optionsTo(sw: TestSwitch, b: BindingView, tag: string): void {
  const peer = peerOfBinding({ transport: b.source.transport, sourceIp: b.source.address, sourcePort: b.source.port });
  const req: SipRequest = {
    method: 'OPTIONS',
    uri: b.contact,
    version: '2.0',
    headers: {
      to: { uri: b.contact, params: {} },
      from: { uri: 'sip:switch@127.0.0.1', params: { tag } },
      'call-id': `${tag}@test`,
      cseq: { seq: 1, method: 'OPTIONS' },
      'max-forwards': '70',
      via: [],
    },
    content: '',
  };
  req.headers.via = [{ version: '2.0', protocol: peer.transport.toUpperCase(), host: '127.0.0.1', port: sw.sipPort, params: { branch: newBranch() } }];
  sw.running.sip.stack.clientTransactions.send(req, peer, { onFinal: () => {} });
}

for (const dialect of DIALECTS) {
  describe(`SIP over TLS and connection-bound registrations [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    let sw: TestSwitch;
    let api: ApiClient;
    const logLines: string[] = [];
    const phones: TestPhone[] = [];
    const open = async (...args: Parameters<typeof TestPhone.open>) => {
      const p = await TestPhone.open(...args);
      phones.push(p);
      return p;
    };
    const bindingsOf = async (username: string) => ((await api.get('/registrations')).body.items as BindingView[]).filter((b) => b.username === username);
    const tlsPort = () => sw.running.tlsPort!;

    before(async () => {
      sw = await startTestSwitch(dialect, { logLines, env: { SIP_TCP_IDLE_SECONDS: '1' } });
      api = await signUp(sw.httpUrl);
    });
    after(async () => {
      for (const p of phones) p.close();
      await sw.close();
    });

    test('a phone registers over TLS; the binding says so, and the settings say TLS runs on a self-signed certificate', async () => {
      const acct = await createSipAccount(api);
      const p = await open('tls', tlsPort());
      const { final } = await p.register({ user: acct.username, password: acct.password });
      assert.equal(final.status, 200);
      const [b] = await bindingsOf(acct.username);
      assert.equal(b?.source.transport, 'tls');
      assert.equal(b?.source.port, p.localPort);
      const settings = await api.get('/settings');
      assert.equal(settings.body.tls.sipPort, tlsPort());
      assert.equal(settings.body.tls.selfSigned, true);
      assert.ok(settings.body.tls.certificates[0].names.includes('127.0.0.1'));
    });

    test('a phone registered over TLS is reached over its own connection, whatever its Contact says', async () => {
      const acct = await createSipAccount(api);
      const p = await open('tls', tlsPort());
      // A phone behind NAT: its Contact names an address nobody can reach.
      const { final } = await p.register({ user: acct.username, password: acct.password, contact: `<sip:${acct.username}@192.0.2.7:5099;transport=tls>` });
      assert.equal(final.status, 200);
      const [b] = await bindingsOf(acct.username);
      optionsTo(sw, b!, 'reach1');
      const got = await p.waitFor((m) => m.startsWith('OPTIONS ') && m.includes('reach1'), 3000);
      assert.match(got, /^Via: SIP\/2\.0\/TLS /m);
    });

    test('the binding goes when its connection closes; one moved to a new connection (NAT changed) stays and is reached there', async () => {
      const acct = await createSipAccount(api);
      const first = await open('tls', tlsPort());
      const contact = `<sip:${acct.username}@10.0.0.5:5061;transport=tls>`;
      assert.equal((await first.register({ user: acct.username, password: acct.password, contact })).final.status, 200);
      // The phone's NAT moves it: a new connection from another address, the same contact.
      const second = await open('tls', tlsPort(), '127.0.0.2');
      assert.equal((await second.register({ user: acct.username, password: acct.password, contact })).final.status, 200);
      first.close();
      await eventually(
        'the switch to see the first connection close',
        () => (sw.running.sip.stack.transport.connectionTo({ transport: 'tls', address: '127.0.0.1', port: first.localPort }) ? undefined : true),
        3000,
      );
      const [b] = await bindingsOf(acct.username);
      assert.equal(b?.source.address, '127.0.0.2', 'the binding moved to the second connection and stays');
      optionsTo(sw, b!, 'reach2');
      await second.waitFor((m) => m.includes('reach2'), 3000);

      second.close();
      await eventually('the binding to go with its connection', async () => ((await bindingsOf(acct.username)).length === 0 ? true : undefined), 5000);
      assert.ok(logLines.some((l) => l.includes('registration removed: its connection closed')));
    });

    test('a TCP registration goes with its connection too', async () => {
      const acct = await createSipAccount(api);
      const p = await open('tcp', sw.sipPort);
      assert.equal((await p.register({ user: acct.username, password: acct.password })).final.status, 200);
      assert.equal((await bindingsOf(acct.username))[0]?.source.transport, 'tcp');
      p.close();
      await eventually('the TCP binding to go', async () => ((await bindingsOf(acct.username)).length === 0 ? true : undefined), 5000);
    });

    test('a connection holding a registration is not closed for idleness before the registration expires', async () => {
      const acct = await createSipAccount(api);
      const holder = await open('tls', tlsPort());
      assert.equal((await holder.register({ user: acct.username, password: acct.password, expires: 60 })).final.status, 200);
      // A connection without a registration, idle as long: closed once SIP_TCP_IDLE_SECONDS (1 s) passes.
      const idle = await open('tls', tlsPort());
      assert.equal((await idle.request({ method: 'OPTIONS' })).status, 200);
      await closed(idle.tcpSocket!);
      assert.equal(holder.tcpSocket!.destroyed, false, 'the registered connection is still open');
      assert.equal((await holder.request({ method: 'OPTIONS' })).status, 200);
      assert.equal((await bindingsOf(acct.username)).length, 1);
    });

    test('plain text and a broken handshake on the TLS port are refused with a log line; other TLS connections carry on', async () => {
      const acct = await createSipAccount(api);
      const good = await open('tls', tlsPort());
      assert.equal((await good.register({ user: acct.username, password: acct.password })).final.status, 200);
      const before = logLines.filter((l) => l.includes('TLS connection refused: the handshake failed')).length;

      const plain = net.connect({ host: '127.0.0.1', port: tlsPort() });
      plain.on('error', () => {});
      plain.write('OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bKplain\r\nContent-Length: 0\r\n\r\n');
      await closed(plain);

      // A ClientHello that goes wrong half-way: a TLS record header, then junk.
      const broken = net.connect({ host: '127.0.0.1', port: tlsPort() });
      broken.on('error', () => {});
      broken.write(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x40]), Buffer.alloc(0x40, 0x5a)]));
      await closed(broken);

      // A client that refuses the certificate (a self-signed one it does not trust).
      const picky = tls.connect({ host: '127.0.0.1', port: tlsPort(), servername: 'localhost' });
      const refusedCert = await new Promise<string>((resolve) => picky.once('error', (e: Error & { code?: string }) => resolve(e.code ?? e.message)));
      assert.match(refusedCert, /SELF_SIGNED|UNABLE_TO_VERIFY/);

      await eventually(
        'two handshake failures logged',
        () => (logLines.filter((l) => l.includes('TLS connection refused: the handshake failed')).length >= before + 2 ? true : undefined),
        3000,
      );
      const line = JSON.parse(logLines.filter((l) => l.includes('TLS connection refused: the handshake failed')).at(-1)!);
      assert.equal(line.ip, '127.0.0.1');
      assert.ok(line.reason, 'the line says why');
      // The registered phone's connection is untouched and works.
      assert.equal((await good.request({ method: 'OPTIONS' })).status, 200);
      assert.equal((await bindingsOf(acct.username)).length, 1);
      const metrics = await (await fetch(`${sw.httpUrl}/metrics`)).text();
      assert.match(metrics, /sip_connections_refused_total\{reason="tls-handshake"\} [2-9]/);
    });

    test("after a restart, the bindings over the previous run's connections are gone; UDP ones stay", async () => {
      const viaTls = await createSipAccount(api);
      const viaUdp = await createSipAccount(api);
      const t = await open('tls', tlsPort());
      const u = await open('udp', sw.sipPort);
      assert.equal((await t.register({ user: viaTls.username, password: viaTls.password })).final.status, 200);
      assert.equal((await u.register({ user: viaUdp.username, password: viaUdp.password })).final.status, 200);
      await sw.restart();
      api.baseUrl = sw.httpUrl;
      assert.equal((await bindingsOf(viaTls.username)).length, 0);
      assert.equal((await bindingsOf(viaUdp.username)).length, 1);
    });
  });
}
