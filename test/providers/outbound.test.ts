/**
 * Calls out through providers: a registered phone's dialplan dials `number@provider`, and sipp
 * plays the provider. Each test checks what the provider received (Request-URI, From and header
 * templates, the digest answer), what the caller was told, what the dialplan saw and the record.
 * Provider hosts resolve through a loopback DNS server the tests control.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, describe, test } from 'node:test';
import { challengeParams, digestAuthorization } from '../helpers/sipPhone.ts';
import { startDnsServer } from '../helpers/dnsServer.ts';
import { skipWithout } from '../interop/tools.ts';
import {
  assertSippOk,
  authRow,
  bodyOf,
  callSuite,
  dialplanSource,
  flowOf,
  headerOf,
  recordOf,
  scenario,
  startSipp,
  type Account,
  type SippMessage,
  type Tenant,
} from '../calls/harness.ts';

const noSipp = skipWithout('sipp', 'sip-tester');
const dns = await startDnsServer();

const NUMBER = '5551234';

/** The messages of one kind a peer received, in order. */
const received = (messages: SippMessage[], kind: string) => messages.filter((m) => m.dir === 'received' && m.kind === kind);
const requestLine = (m: SippMessage) => m.text.split(/\r?\n/, 1)[0];

/** SRV records for `_sip._udp.<domain>`: one target per port, in priority order, each on 127.0.0.1. */
function srv(domain: string, ports: number[]): void {
  dns.set(
    `_sip._udp.${domain}`,
    'SRV',
    ports.map((port, i) => ({ priority: 10 * (i + 1), weight: 0, port, target: `t${i}.${domain}` })),
  );
  ports.forEach((_, i) => dns.set(`t${i}.${domain}`, 'A', ['127.0.0.1']));
}

async function createProvider(t: Tenant, body: Record<string, unknown>): Promise<{ id: string; name: string }> {
  const r = await t.api.post('/providers', { name: 'acme', ...body });
  assert.equal(r.status, 201, `POST /providers: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/**
 * Searches everything a dialplan can reach (its globals and their prototypes, the call facts, the
 * dial result) for the provider's password, which it is given only as shifted character codes so
 * that the text itself is not in its source. Logs how many values it walked and where it found it.
 */
function secretSearch(password: string): string {
  const codes = [...password].map((c) => c.charCodeAt(0) + 1);
  return `
  const needle = String.fromCharCode(...${JSON.stringify(codes)}.map((c) => c - 1));
  const seen = new Set();
  const hits = [];
  let values = 0;
  const visit = (v, path, depth) => {
    values++;
    if (v === null || (typeof v !== 'object' && typeof v !== 'function')) {
      if (String(v).includes(needle)) hits.push(path);
      return;
    }
    if (seen.has(v) || depth > 10) return;
    seen.add(v);
    if (typeof v === 'function') {
      try { if (Function.prototype.toString.call(v).includes(needle)) hits.push(path + '()'); } catch {}
    }
    let keys = [];
    try { keys = Reflect.ownKeys(v); } catch { return; }
    for (const k of keys) {
      if (String(k).includes(needle)) hits.push(path + '[key]');
      let d;
      try { d = Object.getOwnPropertyDescriptor(v, k); } catch { continue; }
      if (d && 'value' in d) visit(d.value, path + '.' + String(k), depth + 1);
    }
    let proto = null;
    try { proto = Object.getPrototypeOf(v); } catch {}
    if (proto) visit(proto, path + '.__proto__', depth + 1);
  };
  visit(globalThis, 'globalThis', 0);
  visit(call, 'call', 0);
  visit(r, 'result', 0);
  log('walked ' + values + ' values; password found at: ' + (hits.length ? hits.join(', ') : 'nowhere'));`;
}

describe('calls out through providers (sqlite)', { skip: noSipp, timeout: 60_000 }, () => {
  const suite = callSuite({ env: { DNS_SERVERS: dns.address } });
  after(() => dns.close());

  /** A phone of the tenant placing an authenticated call to NUMBER, which its dialplan routes. */
  const phoneCalls = async (caller: Account, file = 'uac_auth_call.xml') =>
    suite.track(
      await startSipp({
        dir: suite.dir,
        name: 'phone',
        scenario: scenario(file),
        remote: suite.remote(),
        service: NUMBER,
        inf: [authRow(caller)],
        keys: { party: 'alice' },
        pauseMs: 800,
      }),
    );

  test('the provider challenges with 401: answered once with the auth username and password; From and header templates applied', async () => {
    const { t, log } = await suite.tenantWithLog();
    const alice = await t.account();
    const password = 'Trunk-pass-4417';
    const provider = suite.track(
      await startSipp({
        dir: suite.dir,
        name: 'acme',
        scenario: scenario('provider_uas_auth.xml'),
        keys: { realm: 'acme.test', user: 'auth-7781', pass: password, party: 'acme' },
      }),
    );
    await createProvider(t, {
      host: '127.0.0.1',
      port: provider.port,
      username: 'trunkuser',
      authUsername: 'auth-7781',
      password,
      fromUser: '{username}',
      fromHost: 'sip.acme.test',
      fromDisplay: 'Office {caller}',
      headers: { 'X-Acme-Route': '{username}/{number}' },
    });
    await t.dialplan('default', dialplanSource(`  const r = await dial('${NUMBER}@acme', { timeout: 10 });\n  log('dial ' + r.result + ' ' + r.sipStatus + ' ' + r.target);`));

    const phone = await phoneCalls(alice);
    const [c, p] = await Promise.all([phone.done, provider.done]);
    assertSippOk({ phone: c, provider: p });
    assert.deepEqual(flowOf(p.messages), ['<INVITE', '>401', '<ACK', '<INVITE', '>180', '>200', '<ACK', '<BYE', '>200']);
    assert.deepEqual(flowOf(c.messages), ['>INVITE', '<407', '>ACK', '>INVITE', '<100', '<180', '<200', '>ACK', '>BYE', '<200']);
    assert.match(bodyOf(c.messages.find((m) => m.dir === 'received' && m.kind === '200')!), /o=acme /, "the provider's answer reached the phone");

    const [first, second] = received(p.messages, 'INVITE');
    for (const invite of [first!, second!]) {
      assert.equal(requestLine(invite), `INVITE sip:${NUMBER}@127.0.0.1:${provider.port} SIP/2.0`);
      assert.match(headerOf(invite, 'From')!, /^"Office [^"]+" <sip:trunkuser@sip\.acme\.test>;tag=/);
      assert.ok(headerOf(invite, 'From')!.startsWith(`"Office ${alice.username}"`), `From display from the template: ${headerOf(invite, 'From')}`);
      assert.match(headerOf(invite, 'To')!, new RegExp(`<sip:${NUMBER}@127\\.0\\.0\\.1>`));
      assert.equal(headerOf(invite, 'X-Acme-Route'), `trunkuser/${NUMBER}`);
    }
    assert.equal(headerOf(first!, 'Authorization'), undefined, 'no credentials before the challenge');
    const auth = challengeParams(headerOf(second!, 'Authorization')!);
    assert.equal(auth.username, 'auth-7781', 'the auth username, not the username, answers the challenge');
    assert.equal(auth.uri, `sip:${NUMBER}@127.0.0.1:${provider.port}`);

    await log.ended();
    log.assertWellFormed();
    assert.deepEqual(log.lifeOf('B'), ['created', 'ringing', 'up', 'hungup normal caller']);
    const leg = log.ofType('channel.created')[1]!.channel;
    assert.equal(leg.provider, 'acme');
    assert.equal(leg.target, `${NUMBER}@acme`);
    assert.deepEqual(leg.peer, { address: '127.0.0.1', port: provider.port, transport: 'udp' });
    log.assertInOrder(['dialplan.started default', `dialplan.log dial answered 200 ${NUMBER}@acme`, 'dialplan.ended completed', 'call.ended']);

    const cdr = await recordOf(suite.sw, t, log.events[0]!.callId);
    assert.equal(cdr.status, 'answered');
    assert.equal(cdr.direction, 'out');
    assert.equal(cdr.provider, 'acme');
    assert.equal(cdr.account, alice.username);
    assert.deepEqual(cdr.dialled, [`${NUMBER}@acme`]);
    assert.equal(cdr.legs[1]!.provider, 'acme');
  });

  test('a 407 is answered with Proxy-Authorization; the password reaches neither the dialplan nor the records nor the events', async () => {
    const { t, log } = await suite.tenantWithLog();
    const alice = await t.account();
    const password = 'Zq-secret-5590-trunk';
    const provider = suite.track(
      await startSipp({ dir: suite.dir, name: 'acme', scenario: scenario('provider_uas_proxy_auth.xml'), keys: { realm: 'proxy.acme.test', party: 'acme' } }),
    );
    await createProvider(t, { host: '127.0.0.1', port: provider.port, username: 'trunkuser', password });
    await t.dialplan(
      'default',
      dialplanSource(`  log('call ' + JSON.stringify(call));
  const r = await dial('${NUMBER}@acme', { timeout: 10 });
  log('dial ' + JSON.stringify(r));${secretSearch(password)}`),
    );

    const phone = await phoneCalls(alice);
    const [c, p] = await Promise.all([phone.done, provider.done]);
    assertSippOk({ phone: c, provider: p });
    assert.deepEqual(flowOf(p.messages), ['<INVITE', '>407', '<ACK', '<INVITE', '>180', '>200', '<ACK', '<BYE', '>200']);
    const [first, second] = received(p.messages, 'INVITE');
    assert.equal(headerOf(first!, 'Proxy-Authorization'), undefined);
    // Without a From template the caller's own user goes out, at the provider's host.
    assert.match(headerOf(second!, 'From')!, new RegExp(`<sip:${alice.username}@127\\.0\\.0\\.1>;tag=`));
    const answer = challengeParams(headerOf(second!, 'Proxy-Authorization')!);
    const challenge = challengeParams(
      headerOf(
        p.messages.find((m) => m.kind === '407')!,
        'Proxy-Authenticate',
      )!,
    );
    assert.equal(answer.username, 'trunkuser', 'without an auth username the username answers');
    assert.equal(answer.nonce, challenge.nonce);
    assert.equal(answer.qop, 'auth');
    const expected = challengeParams(
      digestAuthorization({ challenge, username: 'trunkuser', password, method: 'INVITE', uri: answer.uri!, nc: parseInt(answer.nc!, 16), cnonce: answer.cnonce! }),
    );
    assert.equal(answer.response, expected.response, 'the digest response is computed from the stored password');

    await log.ended();
    log.assertWellFormed();
    const lines = log.ofType('dialplan.log').map((e) => e.message);
    const walked = lines.find((l) => l.startsWith('walked '));
    assert.ok(walked, `the dialplan searched what it can reach: ${lines.join('\n')}`);
    assert.match(walked, /password found at: nowhere$/);
    assert.ok(Number(/^walked (\d+)/.exec(walked)![1]) > 1000, `the search walked the sandbox's globals: ${walked}`);
    assert.ok(
      lines.some((l) => l.startsWith('dial {"answered":true')),
      lines.join('\n'),
    );

    const cdr = await recordOf(suite.sw, t, log.events[0]!.callId);
    assert.equal(cdr.provider, 'acme');
    assert.ok(cdr.log.length >= 3, 'the dialplan log is in the record');
    for (const [what, text] of [
      ['the dialplan log', lines.join('\n')],
      ['the call record', JSON.stringify(cdr)],
      ['the event stream', JSON.stringify(log.events)],
      ['the provider as the API shows it', JSON.stringify((await t.api.get('/providers')).body)],
    ] as const) {
      assert.ok(!text.includes(password), `the password appears in ${what}`);
    }
  });

  test('wrong password: the second challenge is not answered; the dialplan sees rejected:401 and the phone a failure', async () => {
    const { t, log } = await suite.tenantWithLog();
    const alice = await t.account();
    const provider = suite.track(
      await startSipp({
        dir: suite.dir,
        name: 'acme',
        scenario: scenario('provider_uas_auth.xml'),
        keys: { realm: 'acme.test', user: 'trunkuser', pass: 'the-right-one', party: 'acme' },
      }),
    );
    await createProvider(t, { host: '127.0.0.1', port: provider.port, username: 'trunkuser', password: 'a-wrong-one' });
    await t.dialplan('default', dialplanSource(`  const r = await dial('${NUMBER}@acme', { timeout: 10 });\n  log('dial ' + r.result + ' ' + r.sipStatus);`));

    const phone = await phoneCalls(alice, 'provider_uac_phone_refused.xml');
    const [c, p] = await Promise.all([phone.done, provider.done]);
    assertSippOk({ phone: c, provider: p });
    // After the second 401 the provider waits 2 s: a third INVITE would show here.
    assert.deepEqual(flowOf(p.messages), ['<INVITE', '>401', '<ACK', '<INVITE', '>401', '<ACK']);
    assert.deepEqual(flowOf(c.messages), ['>INVITE', '<407', '>ACK', '>INVITE', '<100', '<403', '>ACK']);

    await log.ended();
    log.assertWellFormed();
    log.assertInOrder(['dialplan.log dial rejected:401 401', 'dialplan.ended completed', 'channel.hungup A rejected switch 403', 'call.ended']);
    assert.deepEqual(log.lifeOf('B'), ['created', 'hungup rejected callee 401']);
    const cdr = await recordOf(suite.sw, t, log.events[0]!.callId);
    assert.equal(cdr.status, 'failed');
    assert.equal(cdr.provider, 'acme');
  });

  test('SRV: the first target by priority answers 503, the second gets the INVITE and answers', async () => {
    const { t, log } = await suite.tenantWithLog();
    const alice = await t.account();
    const down = suite.track(await startSipp({ dir: suite.dir, name: 'srv-a', scenario: scenario('provider_uas_unavailable.xml') }));
    const up = suite.track(await startSipp({ dir: suite.dir, name: 'srv-b', scenario: scenario('uas_answer.xml'), keys: { party: 'acme-b' } }));
    srv('trunk.test', [down.port, up.port]);
    await createProvider(t, { host: 'trunk.test' });
    await t.dialplan('default', dialplanSource(`  const r = await dial('${NUMBER}@acme', { timeout: 10 });\n  log('dial ' + r.result);`));

    const phone = await phoneCalls(alice);
    const [c, a, b] = await Promise.all([phone.done, down.done, up.done]);
    assertSippOk({ phone: c, 'first target': a, 'second target': b });
    assert.deepEqual(flowOf(a.messages), ['<INVITE', '>503', '<ACK']);
    assert.deepEqual(flowOf(b.messages), ['<INVITE', '>180', '>200', '<ACK', '<BYE', '>200']);
    for (const invite of [received(a.messages, 'INVITE')[0]!, received(b.messages, 'INVITE')[0]!]) {
      assert.equal(requestLine(invite), `INVITE sip:${NUMBER}@trunk.test SIP/2.0`, 'the Request-URI names the provider, not the address it resolved to');
    }
    assert.match(bodyOf(c.messages.find((m) => m.dir === 'received' && m.kind === '200')!), /o=acme-b /);
    assert.ok(dns.queries('_sip._udp.trunk.test', 'SRV') >= 1);

    await log.ended();
    log.assertWellFormed();
    assert.deepEqual(log.lifeOf('B'), ['created', 'ringing', 'up', 'hungup normal caller']);
    log.assertInOrder(['dialplan.log dial answered', 'call.ended']);
    const cdr = await recordOf(suite.sw, t, log.events[0]!.callId);
    assert.equal(cdr.status, 'answered');
    assert.equal(cdr.provider, 'acme');
  });

  test('SRV: each address gets its own challenge answered: the first challenges and then answers 503, the second challenges and answers', async () => {
    const { t, log } = await suite.tenantWithLog();
    const alice = await t.account();
    const password = 'Two-sites-8123';
    const down = suite.track(await startSipp({ dir: suite.dir, name: 'site-a', scenario: scenario('provider_uas_auth_unavailable.xml'), keys: { realm: 'a.sites.test' } }));
    const up = suite.track(
      await startSipp({
        dir: suite.dir,
        name: 'site-b',
        scenario: scenario('provider_uas_auth.xml'),
        keys: { realm: 'b.sites.test', user: 'trunkuser', pass: password, party: 'acme-b' },
      }),
    );
    srv('sites.test', [down.port, up.port]);
    await createProvider(t, { host: 'sites.test', username: 'trunkuser', password });
    await t.dialplan('default', dialplanSource(`  const r = await dial('${NUMBER}@acme', { timeout: 10 });\n  log('dial ' + r.result + ' ' + r.sipStatus);`));

    const phone = await phoneCalls(alice);
    const [c, a, b] = await Promise.all([phone.done, down.done, up.done]);
    assertSippOk({ 'first site': a, 'second site': b, phone: c });
    assert.deepEqual(flowOf(a.messages), ['<INVITE', '>401', '<ACK', '<INVITE', '>503', '<ACK']);
    assert.deepEqual(flowOf(b.messages), ['<INVITE', '>401', '<ACK', '<INVITE', '>180', '>200', '<ACK', '<BYE', '>200']);
    await log.ended();
    log.assertWellFormed();
    log.assertInOrder(['dialplan.log dial answered 200', 'call.ended']);
  });

  test('SRV: a first target that never answers is left after the failover delay for the second', async () => {
    const { t, log } = await suite.tenantWithLog();
    const alice = await t.account();
    // The first target: a socket that takes INVITEs and says nothing.
    const silent = dgram.createSocket('udp4');
    const invitesAt: number[] = [];
    silent.on('message', (m) => {
      if (m.toString('latin1').startsWith('INVITE ')) invitesAt.push(Date.now());
    });
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    try {
      const up = suite.track(await startSipp({ dir: suite.dir, name: 'srv-b', scenario: scenario('uas_answer.xml'), keys: { party: 'acme-b' } }));
      srv('quiet.test', [silent.address().port, up.port]);
      await createProvider(t, { host: 'quiet.test' });
      await t.dialplan('default', dialplanSource(`  const r = await dial('${NUMBER}@acme', { timeout: 15 });\n  log('dial ' + r.result);`));

      const phone = await phoneCalls(alice);
      const [c, b] = await Promise.all([phone.done, up.done]);
      assertSippOk({ phone: c, 'second target': b });
      assert.deepEqual(flowOf(b.messages), ['<INVITE', '>180', '>200', '<ACK', '<BYE', '>200']);
      assert.ok(invitesAt.length >= 1, 'the first target was tried first');

      await log.ended();
      log.assertWellFormed();
      const ringing = log.ofType('channel.state').find((e) => e.channel.id === log.idOf('B') && e.channel.state === 'ringing')!;
      const waited = ringing.at - invitesAt[0]!;
      assert.ok(waited >= 3500 && waited < 9000, `the second target rang ${waited} ms after the first was tried`);
      const leg = log.ofType('channel.hungup').find((e) => e.channel.id === log.idOf('B'))!.channel;
      assert.equal(leg.peer.port, up.port, 'the leg records the address that answered');
    } finally {
      silent.close();
    }
  });
});
