/**
 * Hostile and broken input against a running switch, including a regression test for each defect
 * of the `sip` package measured in shared/notes/dependencies.md that applies to what we use.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_AUTH_GUARD } from '../../server/sip/authGuard.ts';
import { createSipAccount, signUp, type ApiClient, type UncheckedJson } from '../helpers/api.ts';
import { parseReply, TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { elapse, eventually } from '../helpers/time.ts';

describe('SIP robustness', () => {
  let sw: TestSwitch;
  let api: ApiClient;
  const phones: TestPhone[] = [];
  const phone = async (t: 'udp' | 'tcp' = 'udp') => {
    const p = await TestPhone.open(t, sw.sipPort);
    phones.push(p);
    return p;
  };
  /** The switch is alive and answering: an OPTIONS over a fresh UDP socket gets its 200. */
  const assertAlive = async () => {
    const p = await phone();
    const r = await p.request({ method: 'OPTIONS' }, 2000);
    assert.equal(r.status, 200);
  };
  const tcpExchange = (payload: Buffer | string, waitMs = 1500) =>
    new Promise<{ data: string; closed: boolean }>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: sw.sipPort });
      let data = '';
      let closed = false;
      s.on('data', (d) => (data += d.toString()));
      s.on('error', () => {});
      s.on('close', () => {
        closed = true;
        clearTimeout(t);
        resolve({ data, closed });
      });
      s.on('connect', () => s.write(payload));
      const t = setTimeout(() => {
        s.destroy();
        resolve({ data, closed });
      }, waitMs);
    });
  const dropped = async (reason: string) => {
    const text = await (await fetch(`${sw.httpUrl}/metrics`)).text();
    const m = new RegExp(`sip_messages_dropped_total\\{reason="${reason}"\\} (\\d+)`).exec(text);
    return m ? Number(m[1]) : 0;
  };

  before(async () => {
    sw = await startTestSwitch('sqlite', {
      env: { SIP_TCP_IDLE_SECONDS: '1' },
      authGuard: { ...DEFAULT_AUTH_GUARD, distinctUsersLimit: 1000 },
    });
    api = await signUp(sw.httpUrl);
  });
  after(async () => {
    for (const p of phones) p.close();
    await sw.close();
  });

  test('OPTIONS is answered 200 with Allow', async () => {
    const p = await phone();
    const r = await p.request({ method: 'OPTIONS' });
    assert.equal(r.status, 200);
    assert.match(r.header('allow')!, /REGISTER/);
  });

  test('every method gets a final response (ACK excepted); a stranger placing a call is challenged', async () => {
    const p = await phone();
    const foo = await p.request({ method: 'FOO' });
    assert.equal(foo.status, 501);
    assert.ok(foo.header('allow'));
    assert.equal((await p.request({ method: 'BYE' })).status, 481);
    const invite = await p.request({ method: 'INVITE', to: 'sip:nobody-here@127.0.0.1', body: 'v=0\r\n', headers: ['Content-Type: application/sdp'] });
    assert.equal(invite.status, 407);
    assert.match(invite.header('proxy-authenticate')!, /^Digest /);
    const ack = p.build({ method: 'ACK' });
    p.sendRaw(ack.text);
    assert.ok(await p.quiet((r) => r.includes(ack.branch), 400));
  });

  test('a retransmitted request gets the same response, handled once', async () => {
    const acct = await createSipAccount(api);
    const p = await phone();
    const to = `sip:${acct.username}@127.0.0.1`;
    const req = p.build({ method: 'REGISTER', to, headers: [`Contact: <sip:a@127.0.0.1:${p.localPort}>`] });
    p.sendRaw(req.text);
    const first = await p.waitFor((r) => r.includes(req.branch));
    const from = p.received.length;
    p.sendRaw(req.text);
    const again = await p.waitFor((r) => r.includes(req.branch), 2000, from);
    assert.equal(again, first, 'byte-identical response, same To tag and nonce');
  });

  test('a request missing mandatory headers gets 400 when it can be answered, else is dropped', async () => {
    const p = await phone();
    const noCallId = p.build({ method: 'OPTIONS' }).text.replace(/Call-ID: [^\r]*\r\n/, '');
    p.sendRaw(noCallId);
    const r = parseReply(await p.waitFor((x) => x.startsWith('SIP/2.0 4')))!;
    assert.equal(r.status, 400);
    const before = await dropped('invalid-unanswerable');
    p.sendRaw(p.build({ method: 'OPTIONS' }).text.replace(/Via: [^\r]*\r\n/, ''));
    await assertAlive();
    assert.equal(await dropped('invalid-unanswerable'), before + 1);
  });

  test('CSeq method mismatch and unsupported URI schemes are refused', async () => {
    const p = await phone();
    const bad = p.build({ method: 'OPTIONS' }).text.replace(/CSeq: (\d+) OPTIONS/, 'CSeq: $1 REGISTER');
    p.sendRaw(bad);
    assert.equal(parseReply(await p.waitFor((x) => x.startsWith('SIP/2.0 400')))!.reason, 'CSeq Method Mismatch');
    assert.equal((await p.request({ method: 'OPTIONS', uri: 'tel:+15551234' })).status, 416);
  });

  test('garbage datagrams are dropped and counted, and the switch keeps answering', async () => {
    const p = await phone();
    const before = await dropped('no-header-end');
    const sent = 300;
    for (let i = 0; i < sent; i++) {
      p.sendRaw(Buffer.from(Array.from({ length: 20 + (i % 200) }, (_, j) => (i * 31 + j * 7) % 256)));
    }
    p.sendRaw('NOT SIP AT ALL\r\n\r\n');
    p.sendRaw('\x00\x01\x02\r\n\r\n\xff\xfe');
    await assertAlive();
    assert.ok((await dropped('no-header-end')) >= before + sent - 5, 'most garbage counted as such');
    assert.ok((await dropped('unparseable')) >= 2);
  });

  test('C1: a Via parameter named __proto__ neither crashes nor pollutes', async () => {
    const p = await phone();
    const text = p.build({ method: 'OPTIONS' }).text.replace(';rport', ';rport;__proto__;constructor=x;hasOwnProperty');
    p.sendRaw(text);
    const r = parseReply(await p.waitFor((x) => x.startsWith('SIP/2.0 200')))!;
    assert.equal(r.status, 200);
    assert.equal(({} as Record<string, unknown>).rport, undefined, 'Object.prototype untouched');
    await assertAlive();
  });

  test('C2: thousands of unparseable blocks in one TCP write do not overflow the stack', async () => {
    const r = await tcpExchange('x\r\n\r\n'.repeat(12000));
    assert.ok(r.closed, 'the connection is closed after unframeable input');
    await assertAlive();
  });

  test('C3: leading whitespace is skipped, not rescanned, and goes as garbage: a datagram of it is dropped, a stream of it is closed past the size limit', async () => {
    const udp = await phone();
    const droppedBefore = await dropped('no-header-end');
    udp.sendRaw(' \r\n'.repeat(4000) + 'a');
    // 30 KB of spaces, then more one byte at a time over TCP: past 16 KiB without the end of a
    // header, the connection is closed.
    const s = net.connect({ host: '127.0.0.1', port: sw.sipPort });
    await new Promise<void>((r) => s.once('connect', () => r()));
    s.on('error', () => {});
    let closed = false;
    s.once('close', () => (closed = true));
    s.write(' '.repeat(30000));
    for (let i = 0; i < 300 && !closed; i++) s.write(' ');
    await eventually('the switch to close the connection', () => closed, 5000);
    await assertAlive();
    assert.equal(await dropped('no-header-end'), droppedBefore + 1, 'the datagram of whitespace was dropped as such');
  });

  test('C4: a bad Content-Length on TCP is answered 400 and the connection closed, not buffered', async () => {
    const p = await phone('tcp');
    const text = p.build({ method: 'OPTIONS' }).text.replace(/Content-Length: 0/, 'Content-Length: abc');
    const r = await tcpExchange(text + 'y'.repeat(100000));
    assert.match(r.data, /^SIP\/2\.0 400 Bad Content-Length/);
    assert.ok(r.closed);
    const huge = await tcpExchange(p.build({ method: 'OPTIONS' }).text.replace(/Content-Length: 0/, 'Content-Length: 999999999'));
    assert.match(huge.data, /^SIP\/2\.0 513/);
    assert.ok(huge.closed);
  });

  test('C5: a large legitimate message and a pipelined one in the same TCP write are both answered', async () => {
    const p = await phone('tcp');
    const body = 'v=0\r\n' + 'a=x-padding:'.padEnd(10000, 'z') + '\r\n';
    const big = p.build({ method: 'OPTIONS', body, headers: ['Content-Type: application/sdp'] });
    const small = p.build({ method: 'OPTIONS' });
    p.sendRaw(big.text + small.text);
    assert.equal(parseReply(await p.waitFor((r) => r.includes(big.branch)))!.status, 200);
    assert.equal(parseReply(await p.waitFor((r) => r.includes(small.branch)))!.status, 200);
  });

  test('an oversized datagram whose head parses is answered 513', async () => {
    const p = await phone();
    const big = p.build({ method: 'OPTIONS', body: 'x'.repeat(20000), headers: ['Content-Type: text/plain'] });
    p.sendRaw(big.text);
    assert.equal(parseReply(await p.waitFor((r) => r.includes(big.branch)))!.status, 513);
  });

  test('C6: a second switch on the same port fails to start with a clear error; the first keeps serving', async () => {
    const { loadConfig } = await import('../../server/config.ts');
    const { startSwitch } = await import('../../server/switch.ts');
    const { createLogger } = await import('../../server/observability/log.ts');
    const config = loadConfig({ SIP_HOST: '127.0.0.1', SIP_PORT: String(sw.sipPort), HTTP_PORT: '0', DATA_DIR: sw.db.dir, DATABASE_URL: `sqlite://${sw.db.dir}/second.sqlite` });
    await assert.rejects(startSwitch(config, createLogger({ level: 'silent', pretty: false })), (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE');
    await assertAlive();
  });

  test('a half-sent TCP message is completed later, and an idle half message is dropped with its connection', async () => {
    const p = await phone('tcp');
    const req = p.build({ method: 'OPTIONS' });
    p.sendRaw(req.text.slice(0, 40));
    await elapse(200);
    p.sendRaw(req.text.slice(40));
    assert.equal(parseReply(await p.waitFor((r) => r.includes(req.branch)))!.status, 200);

    const idle = await tcpExchange(p.build({ method: 'OPTIONS' }).text.slice(0, 50), 4000);
    assert.equal(idle.data, '');
    assert.ok(idle.closed, 'closed by the idle timeout');
    await assertAlive();
  });

  test('a CRLF keep-alive on TCP is answered with a CRLF pong', async () => {
    const r = await tcpExchange('\r\n\r\n', 500);
    assert.equal(r.data, '\r\n');
  });

  test('UTF-8 in headers survives the round trip', async () => {
    const acct = await createSipAccount(api);
    const p = await phone();
    const { final } = await p.register({ user: acct.username, password: acct.password, extraHeaders: ['User-Agent: Téléphone “Ü” 1.0'] });
    assert.equal(final.status, 200);
    const b = ((await api.get('/registrations')).body.items as UncheckedJson[]).find((x) => x.username === acct.username);
    assert.equal(b.userAgent, 'Téléphone “Ü” 1.0');
  });
});
