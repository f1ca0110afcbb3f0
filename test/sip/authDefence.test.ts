import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSipAccount, signUp, type ApiClient } from '../helpers/api.ts';
import { challengeParams, digestAuthorization, TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { elapse } from '../helpers/time.ts';

describe('SIP authentication defences', () => {
  let sw: TestSwitch;
  let api: ApiClient;
  before(async () => {
    sw = await startTestSwitch('sqlite', { env: { SIP_NONCE_TTL_SECONDS: '1' } });
    api = await signUp(sw.httpUrl);
  });
  after(async () => {
    await sw.close();
  });

  test('a stale nonce gets a fresh challenge with stale=true, and the phone can then register', async () => {
    const acct = await createSipAccount(api);
    const p = await TestPhone.open('udp', sw.sipPort);
    const to = `sip:${acct.username}@127.0.0.1`;
    const contact = `Contact: <sip:${acct.username}@127.0.0.1:${p.localPort}>`;
    const uri = `sip:127.0.0.1:${sw.sipPort}`;
    const ch = challengeParams((await p.request({ method: 'REGISTER', to, headers: [contact] })).header('www-authenticate')!);
    await elapse(1300);
    const late = await p.request({
      method: 'REGISTER',
      to,
      headers: [contact, `Authorization: ${digestAuthorization({ challenge: ch, username: acct.username, password: acct.password, method: 'REGISTER', uri })}`],
    });
    assert.equal(late.status, 401);
    const fresh = challengeParams(late.header('www-authenticate')!);
    assert.equal(fresh.stale, 'true');
    const ok = await p.request({
      method: 'REGISTER',
      to,
      headers: [contact, `Authorization: ${digestAuthorization({ challenge: fresh, username: acct.username, password: acct.password, method: 'REGISTER', uri })}`],
    });
    assert.equal(ok.status, 200);
    p.close();
  });

  test('an address failing for five usernames is banned: its requests go unanswered, others are served', async () => {
    const scanner = await TestPhone.open('udp', sw.sipPort);
    for (let i = 0; i < 5; i++) {
      const r = await scanner.register({ user: `scan${i}x`, password: 'guess-guess-1' });
      assert.equal(r.final.status, 403);
    }
    const probe = scanner.build({ method: 'OPTIONS' });
    scanner.sendRaw(probe.text);
    assert.ok(await scanner.quiet((r) => r.includes(probe.branch), 500), 'banned source gets no answer');
    scanner.close();
    const text = await (await fetch(`${sw.httpUrl}/metrics`)).text();
    assert.match(text, /sip_messages_dropped_total\{reason="banned-source"\} [1-9]/);
  });

  test('credentials that answer no nonce this switch gave their source ban nobody and block no account', async () => {
    const acct = await createSipAccount(api);
    // A nonce the switch really issued, but to another address.
    const elsewhere = await TestPhone.open('udp', sw.sipPort, '127.0.0.2');
    const issuedElsewhere = challengeParams((await elsewhere.request({ method: 'REGISTER', to: 'sip:someone@127.0.0.1' })).header('www-authenticate')!);
    elsewhere.close();

    const forger = await TestPhone.open('udp', sw.sipPort, '127.0.0.3');
    const uri = `sip:127.0.0.1:${sw.sipPort}`;
    const forge = (user: string, o: { nonce: string; algorithm?: string; qop?: string; authUser?: string }) =>
      `Authorization: Digest username="${o.authUser ?? user}", realm="127.0.0.1", nonce="${o.nonce}", uri="${uri}", response="0123456789abcdef0123456789abcdef"` +
      `, algorithm=${o.algorithm ?? 'MD5'}${o.qop === '' ? '' : `, qop=${o.qop ?? 'auth'}`}, nc=00000001, cnonce="c0ffee"`;
    const kinds = [
      { nonce: issuedElsewhere.nonce! },
      { nonce: 'made-up-nonce' },
      { nonce: 'made-up-nonce', algorithm: 'SHA-1' },
      { nonce: 'made-up-nonce', qop: '' },
      { nonce: 'made-up-nonce', authUser: 'somebody-else' },
    ];
    try {
      // Twelve usernames, far beyond the five that ban an address; twelve times the real account,
      // beyond the ten that block a (username, address) pair.
      const users = [...Array.from({ length: 12 }, (_, i) => `forged${i}x`), ...Array.from({ length: 12 }, () => acct.username)];
      for (const [i, user] of users.entries()) {
        const to = `sip:${user}@127.0.0.1`;
        const r = await forger.request({ method: 'REGISTER', to, from: to, headers: [`Contact: <sip:${user}@127.0.0.3:5999>`, forge(user, kinds[i % kinds.length]!)] });
        assert.equal(r.status, 401, `forged credentials (${JSON.stringify(kinds[i % kinds.length])}) are challenged, not refused`);
      }
      assert.equal((await forger.request({ method: 'OPTIONS' })).status, 200, 'the address is not banned');
      const real = await forger.register({ user: acct.username, password: acct.password });
      assert.equal(real.final.status, 200, 'the account is not blocked from that address');
    } finally {
      forger.close();
    }
  });

  test("the credentials' uri must name the Request-URI: another resource gets 400, the same URI written differently is accepted", async () => {
    const acct = await createSipAccount(api);
    const p = await TestPhone.open('udp', sw.sipPort, '127.0.0.4');
    const to = `sip:${acct.username}@127.0.0.1`;
    const contact = `Contact: <sip:${acct.username}@127.0.0.4:${p.localPort}>`;
    const attempt = async (requestUri: string, credentialUri: string) => {
      const ch = challengeParams((await p.request({ method: 'REGISTER', uri: requestUri, to, from: to, headers: [contact] })).header('www-authenticate')!);
      const auth = digestAuthorization({ challenge: ch, username: acct.username, password: acct.password, method: 'REGISTER', uri: credentialUri });
      return (await p.request({ method: 'REGISTER', uri: requestUri, to, from: to, headers: [contact, `Authorization: ${auth}`] })).status;
    };
    try {
      const ruri = `sip:127.0.0.1:${sw.sipPort}`;
      // Credentials made for one resource and presented for another: a replay, or a broken client.
      assert.equal(await attempt(ruri, 'sip:127.0.0.1:5999'), 400);
      assert.equal(await attempt(ruri, `sip:${acct.username}@127.0.0.1:${sw.sipPort}`), 400);
      assert.equal(await attempt(ruri, `sips:127.0.0.1:${sw.sipPort}`), 400);
      assert.equal(await attempt(ruri, `sip:127.0.0.1:${sw.sipPort};maddr=10.0.0.1`), 400);
      // What phones send for the same URI: exactly it, with a transport parameter, a default port spelled out.
      assert.equal(await attempt(ruri, ruri), 200);
      assert.equal(await attempt(ruri, `${ruri};transport=udp`), 200);
      assert.equal(await attempt('sip:127.0.0.1', 'sip:127.0.0.1:5060'), 200);
      assert.equal(await attempt('sip:127.0.0.1;transport=UDP', 'sip:127.0.0.1'), 200);
    } finally {
      p.close();
    }
  });
});
