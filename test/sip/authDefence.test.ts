import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSipAccount, signUp, type ApiClient } from '../helpers/api.ts';
import { challengeParams, digestAuthorization, TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

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
    await new Promise((r) => setTimeout(r, 1300));
    const late = await p.request({ method: 'REGISTER', to, headers: [contact, `Authorization: ${digestAuthorization({ challenge: ch, username: acct.username, password: acct.password, method: 'REGISTER', uri })}`] });
    assert.equal(late.status, 401);
    const fresh = challengeParams(late.header('www-authenticate')!);
    assert.equal(fresh.stale, 'true');
    const ok = await p.request({ method: 'REGISTER', to, headers: [contact, `Authorization: ${digestAuthorization({ challenge: fresh, username: acct.username, password: acct.password, method: 'REGISTER', uri })}`] });
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
});
