/**
 * SIP over WebSocket (RFC 7118) on the portal's HTTP server (`ws://…/sip`) and on the HTTPS port
 * (`wss://…/sip`): phones register over it and are reached over it; their bindings go when the
 * WebSocket closes; a page of a foreign origin, an upgrade without the `sip` subprotocol and a
 * source over its connection cap are refused with a clear answer and a log line, and nobody else
 * notices; a WebSocket message must arrive whole in time like any other.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createSipAccount, signUp, type ApiClient } from '../helpers/api.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { eventually } from '../helpers/time.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

interface BindingView {
  username: string;
  source: { address: string; port: number; transport: string };
}

describe('SIP over WebSocket', () => {
  let sw: TestSwitch;
  let api: ApiClient;
  const logLines: string[] = [];
  const phones: TestPhone[] = [];
  const open = async (...args: Parameters<typeof TestPhone.open>) => {
    const p = await TestPhone.open(...args);
    phones.push(p);
    return p;
  };
  const httpPort = () => sw.running.httpPort;
  const bindingsOf = async (username: string) => ((await api.get('/registrations')).body.items as BindingView[]).filter((b) => b.username === username);
  const logged = (text: string) => logLines.filter((l) => l.includes(text)).map((l) => JSON.parse(l) as Record<string, unknown>);

  before(async () => {
    sw = await startTestSwitch('sqlite', {
      logLines,
      env: { SIP_CONNECTIONS_PER_SOURCE: '3', SIP_STREAM_MESSAGE_SECONDS: '1', SIP_WS_ALLOWED_ORIGINS: 'https://softphone.example.com' },
    });
    api = await signUp(sw.httpUrl);
  });
  after(async () => {
    for (const p of phones) p.close();
    await sw.close();
  });

  test('a browser page of the portal registers over ws://, is reached over its WebSocket, and its binding goes when it closes', async () => {
    const acct = await createSipAccount(api);
    const p = await open('ws', httpPort(), '127.0.0.1', { origin: `http://127.0.0.1:${httpPort()}` });
    const { final } = await p.register({ user: acct.username, password: acct.password, contact: `<sip:${acct.username}@df7jal23ls0d.invalid;transport=ws>` });
    assert.equal(final.status, 200);
    const [b] = await bindingsOf(acct.username);
    assert.equal(b?.source.transport, 'ws');
    assert.equal(b?.source.port, p.localPort);
    // The switch's own requests go over the same WebSocket (the contact's host does not exist).
    assert.ok(sw.running.sip.stack.transport.send({ transport: 'ws', address: '127.0.0.1', port: p.localPort }, Buffer.from('OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n')));
    await p.waitFor((m) => m.startsWith('OPTIONS sip:x'), 3000);
    const settings = await api.get('/settings');
    assert.deepEqual(settings.body.tls.webSocket.path, '/sip');
    assert.equal(settings.body.tls.webSocket.wsPort, httpPort());
    p.close();
    await eventually('the WebSocket binding to go', async () => ((await bindingsOf(acct.username)).length === 0 ? true : undefined), 5000);
  });

  test('wss:// on the HTTPS port, with the same certificate', async () => {
    const acct = await createSipAccount(api);
    const p = await open('wss', sw.running.httpsPort!, '127.0.0.1', { origin: `https://127.0.0.1:${sw.running.httpsPort}` });
    assert.equal((await p.register({ user: acct.username, password: acct.password })).final.status, 200);
    assert.equal((await bindingsOf(acct.username))[0]?.source.transport, 'wss');
    const served = (p.webSocket as unknown as { _socket: import('node:tls').TLSSocket })._socket.getPeerCertificate();
    const settings = await api.get('/settings');
    assert.equal(served.fingerprint256, settings.body.tls.certificates[0].fingerprint256);
    // The portal is served there too: the softphone page and its WebSocket share one origin.
    assert.equal((await api.get('/settings')).status, 200);
  });

  test('a page of a foreign origin is refused with 403 and a log line; listed origins and clients without Origin are admitted', async () => {
    const acct = await createSipAccount(api);
    const stays = await open('ws', httpPort(), '127.0.0.1', { origin: `http://127.0.0.1:${httpPort()}` });
    assert.equal((await stays.register({ user: acct.username, password: acct.password })).final.status, 200);

    await assert.rejects(TestPhone.open('ws', httpPort(), '127.0.0.1', { origin: 'https://evil.example.net' }), /403/);
    const [line] = logged('WebSocket refused: Origin Not Allowed');
    assert.equal(line?.origin, 'https://evil.example.net');
    assert.equal(line?.ip, '127.0.0.1');

    const listed = await open('ws', httpPort(), '127.0.0.1', { origin: 'https://softphone.example.com' });
    assert.equal((await listed.request({ method: 'OPTIONS' })).status, 200);
    const noOrigin = await open('ws', httpPort(), '127.0.0.2');
    assert.equal((await noOrigin.request({ method: 'OPTIONS' })).status, 200);
    // The connection that was there before carries on.
    assert.equal((await stays.request({ method: 'OPTIONS' })).status, 200);
    assert.equal((await bindingsOf(acct.username)).length, 1);
    const metrics = await (await fetch(`${sw.httpUrl}/metrics`)).text();
    assert.match(metrics, /sip_connections_refused_total\{reason="websocket-origin"\} 1/);
  });

  test('an upgrade that does not ask for the sip subprotocol is refused with 400', async () => {
    await assert.rejects(TestPhone.open('ws', httpPort(), '127.0.0.3', { protocols: ['chat'] }), /400/);
    assert.equal(logged('WebSocket refused: Subprotocol sip Required').length, 1);
  });

  test('WebSockets count against the per-source connection cap with TCP and TLS ones', async () => {
    const source = '127.0.0.4';
    const tcp = await open('tcp', sw.sipPort, source);
    const tlsPhone = await open('tls', sw.running.tlsPort!, source);
    const ws = await open('ws', httpPort(), source);
    for (const p of [tcp, tlsPhone, ws]) assert.equal((await p.request({ method: 'OPTIONS' })).status, 200);
    await assert.rejects(TestPhone.open('ws', httpPort(), source));
    await assert.rejects(TestPhone.open('wss', sw.running.httpsPort!, source));
    // Another address is not affected.
    const other = await open('ws', httpPort(), '127.0.0.5');
    assert.equal((await other.request({ method: 'OPTIONS' })).status, 200);
    const metrics = await (await fetch(`${sw.httpUrl}/metrics`)).text();
    assert.match(metrics, /sip_connections_refused_total\{reason="source-limit"\} [2-9]/);
  });

  test('a WebSocket frame dribbled in past the message deadline ends the connection', async () => {
    const p = await open('ws', httpPort(), '127.0.0.6');
    assert.equal((await p.request({ method: 'OPTIONS' })).status, 200);
    const socket = (p.webSocket as unknown as { _socket: net.Socket })._socket;
    // A masked text frame header announcing 100 bytes, then a byte at a time.
    socket.write(Buffer.from([0x81, 0x80 | 100, 1, 2, 3, 4]));
    const closedAt = new Promise<void>((resolve) => p.webSocket!.once('close', () => resolve()));
    const drip = setInterval(() => socket.writable && socket.write(Buffer.from([0x41])), 100);
    try {
      await closedAt;
    } finally {
      clearInterval(drip);
    }
    const metrics = await (await fetch(`${sw.httpUrl}/metrics`)).text();
    assert.match(metrics, /sip_connections_timed_out_total\{reason="message-deadline"\} [1-9]/);
  });
});
