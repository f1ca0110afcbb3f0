/**
 * The certificates SIP over TLS presents: several domains by SNI, reloaded when their files change;
 * an expired certificate or one whose key does not match is refused (at start: the switch does not
 * start, naming it; at a reload: an error line, and the certificate loaded before keeps serving).
 * Connecting out over TLS, a peer's expired or mismatched certificate is refused with a log line.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { signUp, type ApiClient } from '../helpers/api.ts';
import { DAY, leaf, makeCa } from '../helpers/certificates.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { eventually } from '../helpers/time.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import type { SipRequest, SipResponse } from '../../server/sip/message.ts';
import { newBranch } from '../../server/sip/clientTransactions.ts';

/** The fingerprint of the certificate the TLS port presents for `servername`. */
async function presented(port: number, servername: string, ca: string): Promise<string> {
  const s = tls.connect({ host: '127.0.0.1', port, servername, ca, checkServerIdentity: () => undefined });
  try {
    await new Promise<void>((resolve, reject) => {
      s.once('secureConnect', () => resolve());
      s.once('error', reject);
    });
    return s.getPeerCertificate().fingerprint256;
  } finally {
    s.destroy();
  }
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

describe('TLS certificates', () => {
  let dir: string;
  let ca: { cert: string; key: string };
  let sw: TestSwitch;
  let api: ApiClient;
  const logLines: string[] = [];
  const files = (name: string) => ({ cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) });
  const write = (name: string, pair: { cert: string; key: string }) => {
    writeFileSync(files(name).key, pair.key);
    writeFileSync(files(name).cert, pair.cert);
  };

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'sipswitch-certs-'));
    ca = await makeCa();
    write('a', await leaf(ca, ['a.test', '127.0.0.1']));
    write('b', await leaf(ca, ['b.test', '*.b.test']));
    writeFileSync(path.join(dir, 'ca.crt'), ca.cert);
    sw = await startTestSwitch('sqlite', {
      logLines,
      // An OPTIONS over a refused connection is never answered: its transaction ends in seconds.
      sipTimers: { t1: 50, t2: 400, t4: 500 },
      env: { TLS_CERTIFICATES: `${files('a').cert}:${files('a').key},${files('b').cert}:${files('b').key}`, TLS_RELOAD_SECONDS: '1', SIP_TLS_CA_FILE: path.join(dir, 'ca.crt') },
    });
    api = await signUp(sw.httpUrl);
  });
  after(async () => {
    await sw?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('SNI picks the certificate naming the domain; an unknown name or none gets the first', async () => {
    const port = sw.running.tlsPort!;
    const settings = (await api.get('/settings')).body.tls;
    assert.equal(settings.selfSigned, false);
    const [a, b] = settings.certificates.map((c: { fingerprint256: string }) => c.fingerprint256);
    assert.equal(await presented(port, 'b.test', ca.cert), b);
    assert.equal(await presented(port, 'phone.b.test', ca.cert), b);
    assert.equal(await presented(port, 'a.test', ca.cert), a);
    assert.equal(await presented(port, 'elsewhere.test', ca.cert), a);
    // A phone that checks the certificate against the CA registers without complaint.
    const phone = await TestPhone.open('tls', port, '127.0.0.1', { servername: 'a.test', ca: ca.cert });
    try {
      assert.equal((await phone.request({ method: 'OPTIONS' })).status, 200);
    } finally {
      phone.close();
    }
  });

  test('a renewed certificate is served once its files change; connections open before carry on', async () => {
    const port = sw.running.tlsPort!;
    const open = await TestPhone.open('tls', port, '127.0.0.1', { servername: 'b.test', ca: ca.cert });
    try {
      const renewed = await leaf(ca, ['b.test', '*.b.test']);
      write('b', renewed);
      await eventually('the renewed certificate to be served', async () => ((await presented(port, 'b.test', ca.cert)) === fingerprint(renewed.cert) ? true : undefined), 10_000);
      assert.ok(logLines.some((l) => l.includes('TLS certificate reloaded')));
      assert.equal((await open.request({ method: 'OPTIONS' })).status, 200);
    } finally {
      open.close();
    }
  });

  for (const [what, make, reason] of [
    ['an expired certificate', async () => leaf(ca, ['a.test', '127.0.0.1'], -30 * DAY, -DAY), /expired on/],
    ['a certificate whose key does not match', async () => ({ cert: (await leaf(ca, ['a.test', '127.0.0.1'])).cert, key: (await leaf(ca, ['a.test'])).key }), /does not match/],
  ] as const) {
    test(`${what} put in place is refused with an error line; the one before keeps serving`, async () => {
      const port = sw.running.tlsPort!;
      const before = await presented(port, 'a.test', ca.cert);
      const refusedBefore = logLines.filter((l) => l.includes('TLS certificate refused')).length;
      write('a', await make());
      const line = await eventually('the refusal', () => logLines.filter((l) => l.includes('TLS certificate refused'))[refusedBefore], 10_000);
      assert.match(JSON.parse(line).reason, reason);
      assert.equal(await presented(port, 'a.test', ca.cert), before);
      assert.match((await api.get('/settings')).body.tls.lastReloadError, reason);
    });
  }

  test('a switch whose configured certificate is expired does not start, and says which and why', async () => {
    write('old', await leaf(ca, ['old.test'], -30 * DAY, -DAY));
    await assert.rejects(startTestSwitch('sqlite', { env: { TLS_CERTIFICATES: `${files('old').cert}:${files('old').key}` } }), (err: Error) => {
      assert.match(err.message, /TLS_CERTIFICATES: .*old\.crt: expired on/);
      return true;
    });
  });

  describe('connecting out over TLS', () => {
    /** A TLS SIP peer presenting `pair` that answers OPTIONS with 200. */
    async function peer(pair: { cert: string; key: string }) {
      const sockets = new Set<tls.TLSSocket>();
      const server = tls.createServer(pair, (s) => {
        sockets.add(s);
        s.on('error', () => {});
        s.on('data', (d: Buffer) => {
          const head = d.toString().split('\r\n\r\n')[0]!.split('\r\n');
          const keep = head.filter((l: string) => /^(via|from|to|call-id|cseq):/i.test(l));
          s.write(['SIP/2.0 200 OK', ...keep, 'Content-Length: 0', '', ''].join('\r\n'));
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      // The switch keeps its connection open (idle timeout): end ours, or close() would wait for it.
      const close = () =>
        new Promise<void>((r) => {
          server.close(() => r());
          for (const s of sockets) s.destroy();
        });
      return { port: (server.address() as net.AddressInfo).port, close };
    }

    function options(port: number, serverName: string): Promise<SipResponse> {
      const uri = `sip:${serverName}:${port};transport=tls`;
      const req: SipRequest = {
        method: 'OPTIONS',
        uri,
        version: '2.0',
        headers: {
          to: { uri, params: {} },
          from: { uri: 'sip:switch@127.0.0.1', params: { tag: 'out' } },
          'call-id': `${newBranch()}@test`,
          cseq: { seq: 1, method: 'OPTIONS' },
          'max-forwards': '70',
          via: [],
        },
        content: '',
      };
      return new Promise((onFinal) => sw.running.sip.stack.clientTransactions.send(req, { transport: 'tls', address: '127.0.0.1', port, serverName }, { onFinal }));
    }

    test('a peer with a valid certificate for its name is reached; an expired or mismatched one is refused with a log line', async () => {
      const good = await peer(await leaf(ca, ['carrier.test']));
      const expired = await peer(await leaf(ca, ['carrier.test'], -30 * DAY, -DAY));
      const mismatched = await peer(await leaf(ca, ['someone-else.test']));
      try {
        assert.equal((await options(good.port, 'carrier.test')).status, 200);
        const refusals = () => logLines.filter((l) => l.includes("TLS connection refused: the peer's certificate is not valid for it")).map((l) => JSON.parse(l));
        // Never answered over a refused connection: the transaction ends as unanswered.
        const [e, m] = await Promise.all([options(expired.port, 'carrier.test'), options(mismatched.port, 'carrier.test')]);
        assert.notEqual(e.status, 200);
        assert.notEqual(m.status, 200);
        const reasons = refusals().map((r) => `${r.peer.port}:${r.reason}`);
        assert.ok(
          reasons.some((r) => r === `${expired.port}:CERT_HAS_EXPIRED`),
          reasons.join(', '),
        );
        assert.ok(
          reasons.some((r) => r === `${mismatched.port}:ERR_TLS_CERT_ALTNAME_INVALID`),
          reasons.join(', '),
        );
        // The good peer is still reached.
        assert.equal((await options(good.port, 'carrier.test')).status, 200);
      } finally {
        await Promise.all([good.close(), expired.close(), mismatched.close()]);
      }
    });
  });
});
