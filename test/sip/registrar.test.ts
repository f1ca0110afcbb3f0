import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSipAccount, signUp, type ApiClient, type UncheckedJson } from '../helpers/api.ts';
import { DIALECTS, skipUnless } from '../helpers/databases.ts';
import { challengeParams, digestAuthorization, TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { DEFAULT_AUTH_GUARD } from '../../server/sip/authGuard.ts';

for (const dialect of DIALECTS) {
  describe(`registrar [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    let sw: TestSwitch;
    let api: ApiClient;
    const phones: TestPhone[] = [];
    const phone = async (t: 'udp' | 'tcp' = 'udp') => {
      const p = await TestPhone.open(t, sw.sipPort);
      phones.push(p);
      return p;
    };
    const bindingsOf = async (username: string) => ((await api.get('/registrations')).body.items as UncheckedJson[]).filter((b) => b.username === username);

    before(async () => {
      sw = await startTestSwitch(dialect, {
        env: { SIP_MIN_EXPIRES: '60', SIP_MAX_EXPIRES: '3600', SIP_MAX_CONTACTS: '3' },
        // Several tests fail authentication on purpose from 127.0.0.1; the ban has its own test.
        authGuard: { ...DEFAULT_AUTH_GUARD, distinctUsersLimit: 1000 },
      });
      api = await signUp(sw.httpUrl);
    });
    after(async () => {
      for (const p of phones) p.close();
      await sw.close();
    });

    test('registers with MD5 digest and the binding is listed with its source and algorithm', async () => {
      const acct = await createSipAccount(api);
      const p = await phone();
      const { challenge, final } = await p.register({ user: acct.username, password: acct.password, extraHeaders: ['User-Agent: TestPhone/1.0'] });
      assert.equal(challenge.status, 401);
      const offered = challenge.headers.get('www-authenticate')!.map((c) => challengeParams(c).algorithm);
      assert.deepEqual(offered, ['MD5'], 'MD5 alone by default: libre-based phones reject any other challenge');
      assert.equal(challengeParams(challenge.header('www-authenticate')!).qop, 'auth');
      assert.equal(final.status, 200);
      assert.match(final.header('contact')!, new RegExp(`sip:${acct.username}@127\\.0\\.0\\.1:${p.localPort}.*;expires=3600`));
      // rport/received (RFC 3581) are filled in on the Via we get back.
      assert.match(final.header('via')!, new RegExp(`rport=${p.localPort}`));
      assert.match(final.header('via')!, /received=127\.0\.0\.1/);
      const [b] = await bindingsOf(acct.username);
      assert.ok(b, 'binding listed');
      assert.equal(b.digestAlgorithm, 'MD5');
      assert.equal(b.userAgent, 'TestPhone/1.0');
      assert.deepEqual(b.source, { address: '127.0.0.1', port: p.localPort, transport: 'udp' });
      assert.ok(b.expiresIn > 3590 && b.expiresIn <= 3600);
    });

    test('SHA-256 works when an account is offered it, in the order the account chose', async () => {
      const acct = await createSipAccount(api, { digestAlgorithms: ['SHA-256', 'MD5'] });
      const p = await phone();
      const { challenge, final } = await p.register({ user: acct.username, password: acct.password });
      assert.deepEqual(
        challenge.headers.get('www-authenticate')!.map((c) => challengeParams(c).algorithm),
        ['SHA-256', 'MD5'],
      );
      assert.equal(final.status, 200);
      assert.equal((await bindingsOf(acct.username))[0].digestAlgorithm, 'SHA-256');
    });

    test('an algorithm the account is not offered is refused', async () => {
      const acct = await createSipAccount(api, { digestAlgorithms: ['SHA-256'] });
      const p = await phone();
      const challenge = await p.request({ method: 'REGISTER', to: `sip:${acct.username}@127.0.0.1`, headers: [`Contact: <sip:x@127.0.0.1:${p.localPort}>`] });
      const params = { ...challengeParams(challenge.header('www-authenticate')!), algorithm: 'MD5' };
      const auth = digestAuthorization({ challenge: params, username: acct.username, password: acct.password, method: 'REGISTER', uri: `sip:127.0.0.1:${sw.sipPort}` });
      const r = await p.request({ method: 'REGISTER', to: `sip:${acct.username}@127.0.0.1`, headers: [`Contact: <sip:x@127.0.0.1:${p.localPort}>`, `Authorization: ${auth}`] });
      assert.equal(r.status, 403);
    });

    test('wrong password and unknown user get identical answers', async () => {
      const acct = await createSipAccount(api);
      const known = await phone();
      const unknown = await phone();
      const a = await known.register({ user: acct.username, password: 'not-the-password' });
      const b = await unknown.register({ user: 'nosuchuser1', password: 'whatever-it-is' });
      assert.equal(a.final.status, 403);
      assert.equal(b.final.status, 403);
      const shape = (c: string) => Object.keys(challengeParams(c)).sort().join(',') + '|' + challengeParams(c).realm;
      assert.deepEqual(a.challenge.headers.get('www-authenticate')!.map(shape), b.challenge.headers.get('www-authenticate')!.map(shape));
      assert.equal(a.challenge.status, b.challenge.status);
      assert.equal((await bindingsOf(acct.username)).length, 0);
    });

    test('a replayed nonce and nonce-count is refused', async () => {
      const acct = await createSipAccount(api);
      const p = await phone();
      const to = `sip:${acct.username}@127.0.0.1`;
      const contact = `Contact: <sip:${acct.username}@127.0.0.1:${p.localPort}>`;
      const ch = await p.request({ method: 'REGISTER', to, headers: [contact] });
      const auth = digestAuthorization({
        challenge: challengeParams(ch.header('www-authenticate')!),
        username: acct.username,
        password: acct.password,
        method: 'REGISTER',
        uri: `sip:127.0.0.1:${sw.sipPort}`,
      });
      const first = await p.request({ method: 'REGISTER', to, headers: [contact, `Authorization: ${auth}`] });
      assert.equal(first.status, 200);
      // Same credentials in a new transaction: a captured request played back.
      const replay = await p.request({ method: 'REGISTER', to, headers: [contact, `Authorization: ${auth}`] });
      assert.equal(replay.status, 401);
      assert.equal(challengeParams(replay.header('www-authenticate')!).stale, 'true');
      assert.notEqual(challengeParams(replay.header('www-authenticate')!).nonce, challengeParams(ch.header('www-authenticate')!).nonce);
    });

    test('the next nonce-count on the same nonce is accepted', async () => {
      const acct = await createSipAccount(api);
      const p = await phone();
      const to = `sip:${acct.username}@127.0.0.1`;
      const contact = `Contact: <sip:${acct.username}@127.0.0.1:${p.localPort}>`;
      const ch = challengeParams((await p.request({ method: 'REGISTER', to, headers: [contact] })).header('www-authenticate')!);
      const uri = `sip:127.0.0.1:${sw.sipPort}`;
      for (const nc of [1, 2]) {
        const auth = digestAuthorization({ challenge: ch, username: acct.username, password: acct.password, method: 'REGISTER', uri, nc });
        assert.equal((await p.request({ method: 'REGISTER', to, headers: [contact, `Authorization: ${auth}`] })).status, 200);
      }
    });

    test('a nonce forged or issued to another address is not accepted', async () => {
      const acct = await createSipAccount(api);
      const p = await phone();
      const to = `sip:${acct.username}@127.0.0.1`;
      const contact = `Contact: <sip:${acct.username}@127.0.0.1:${p.localPort}>`;
      const ch = challengeParams((await p.request({ method: 'REGISTER', to, headers: [contact] })).header('www-authenticate')!);
      const forged = { ...ch, nonce: ch.nonce!.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')) };
      const auth = digestAuthorization({ challenge: forged, username: acct.username, password: acct.password, method: 'REGISTER', uri: `sip:127.0.0.1:${sw.sipPort}` });
      const r = await p.request({ method: 'REGISTER', to, headers: [contact, `Authorization: ${auth}`] });
      assert.equal(r.status, 401);
      assert.equal((await bindingsOf(acct.username)).length, 0);
    });

    test('Expires below the minimum gets 423 with Min-Expires; above the maximum is clamped', async () => {
      const acct = await createSipAccount(api);
      const p = await phone();
      const brief = await p.register({ user: acct.username, password: acct.password, expires: 30 });
      assert.equal(brief.final.status, 423);
      assert.equal(brief.final.header('min-expires'), '60');
      const long = await p.register({ user: acct.username, password: acct.password, expires: 999999 });
      assert.equal(long.final.status, 200);
      assert.match(long.final.header('contact')!, /expires=3600/);
    });

    test('at most three contacts: the oldest is evicted', async () => {
      const acct = await createSipAccount(api);
      const ports: number[] = [];
      for (let i = 0; i < 4; i++) {
        const p = await phone();
        ports.push(p.localPort);
        assert.equal((await p.register({ user: acct.username, password: acct.password })).final.status, 200);
      }
      const bound = (await bindingsOf(acct.username)).map((b) => b.source.port).sort();
      assert.deepEqual(bound, ports.slice(1).sort());
    });

    test('re-registering refreshes the same binding instead of adding one', async () => {
      const acct = await createSipAccount(api);
      const p = await phone();
      await p.register({ user: acct.username, password: acct.password, expires: 120 });
      const first = await bindingsOf(acct.username);
      await p.register({ user: acct.username, password: acct.password, expires: 600 });
      const second = await bindingsOf(acct.username);
      assert.equal(second.length, 1);
      assert.equal(second[0].id, first[0].id);
      assert.ok(second[0].expiresIn > 590);
    });

    test('Expires: 0 removes one binding; Contact: * removes all', async () => {
      const acct = await createSipAccount(api);
      const a = await phone();
      const b = await phone();
      await a.register({ user: acct.username, password: acct.password });
      await b.register({ user: acct.username, password: acct.password });
      assert.equal((await bindingsOf(acct.username)).length, 2);
      assert.equal((await a.register({ user: acct.username, password: acct.password, expires: 0 })).final.status, 200);
      assert.deepEqual(
        (await bindingsOf(acct.username)).map((x) => x.source.port),
        [b.localPort],
      );
      await a.register({ user: acct.username, password: acct.password });
      const all = await b.register({ user: acct.username, password: acct.password, contact: '*', expires: 0 });
      assert.equal(all.final.status, 200);
      assert.equal(all.final.header('contact'), undefined);
      assert.equal((await bindingsOf(acct.username)).length, 0);
    });

    test('Contact: * without Expires: 0 is a bad request', async () => {
      const acct = await createSipAccount(api);
      const p = await phone();
      const r = await p.request({ method: 'REGISTER', to: `sip:${acct.username}@127.0.0.1`, headers: ['Contact: *', 'Expires: 60'] });
      assert.equal(r.status, 400);
    });

    test('a REGISTER without Contact lists the current bindings', async () => {
      const acct = await createSipAccount(api);
      const p = await phone();
      await p.register({ user: acct.username, password: acct.password });
      const query = await (async () => {
        const to = `sip:${acct.username}@127.0.0.1`;
        const ch = challengeParams((await p.request({ method: 'REGISTER', to })).header('www-authenticate')!);
        const auth = digestAuthorization({ challenge: ch, username: acct.username, password: acct.password, method: 'REGISTER', uri: `sip:127.0.0.1:${sw.sipPort}` });
        return p.request({ method: 'REGISTER', to, headers: [`Authorization: ${auth}`] });
      })();
      assert.equal(query.status, 200);
      assert.match(query.header('contact')!, new RegExp(`:${p.localPort}`));
    });

    test('registers over TCP and keeps the transport with the binding', async () => {
      const acct = await createSipAccount(api);
      const p = await phone('tcp');
      const { final } = await p.register({ user: acct.username, password: acct.password });
      assert.equal(final.status, 200);
      const [b] = await bindingsOf(acct.username);
      assert.equal(b.source.transport, 'tcp');
      assert.equal(b.source.port, p.localPort);
    });

    test('a disabled account cannot register', async () => {
      const acct = await createSipAccount(api);
      assert.equal((await api.patch(`/sip-accounts/${acct.id}`, { enabled: false })).status, 200);
      const p = await phone();
      assert.equal((await p.register({ user: acct.username, password: acct.password })).final.status, 403);
    });

    test('a password change takes effect at once', async () => {
      const acct = await createSipAccount(api);
      const p = await phone();
      assert.equal((await p.register({ user: acct.username, password: acct.password })).final.status, 200);
      const newPassword = 'Kettle-Marble-Zigzag-47';
      assert.equal((await api.patch(`/sip-accounts/${acct.id}`, { password: newPassword })).status, 200);
      assert.equal((await p.register({ user: acct.username, password: acct.password })).final.status, 403);
      assert.equal((await p.register({ user: acct.username, password: newPassword })).final.status, 200);
    });

    test('a domain the switch does not serve is refused', async () => {
      const acct = await createSipAccount(api);
      const p = await phone();
      const r = await p.request({ method: 'REGISTER', to: `sip:${acct.username}@elsewhere.example`, headers: [`Contact: <sip:a@127.0.0.1:${p.localPort}>`] });
      assert.equal(r.status, 404);
    });

    test('bindings survive a restart', async () => {
      const acct = await createSipAccount(api);
      const p = await phone();
      assert.equal((await p.register({ user: acct.username, password: acct.password })).final.status, 200);
      await sw.restart();
      // The HTTP port is new; the session cookie must still be valid (sessions are stored too).
      api.baseUrl = sw.httpUrl;
      const b = await bindingsOf(acct.username);
      assert.equal(b.length, 1);
      assert.equal(b[0].source.port, p.localPort);
    });
  });
}

describe('registrar with a switch-wide algorithm list', () => {
  test('SIP_DIGEST_ALGORITHMS sets what every account without its own list is offered, in order', async () => {
    const sw = await startTestSwitch('sqlite', { env: { SIP_DIGEST_ALGORITHMS: 'MD5,SHA-256' } });
    const api = await signUp(sw.httpUrl);
    const acct = await createSipAccount(api);
    const p = await TestPhone.open('udp', sw.sipPort);
    try {
      const { challenge, final } = await p.register({ user: acct.username, password: acct.password, pickAlgorithm: (offered) => offered[1]! });
      assert.deepEqual(
        challenge.headers.get('www-authenticate')!.map((c) => challengeParams(c).algorithm),
        ['MD5', 'SHA-256'],
      );
      assert.equal(final.status, 200);
      const [b] = (await api.get('/registrations')).body.items;
      assert.equal(b.digestAlgorithm, 'SHA-256');
    } finally {
      p.close();
      await sw.close();
    }
  });
});
