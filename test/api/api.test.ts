import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApiClient, createSipAccount, signUp, STRONG_PASSWORD, uniqueEmail } from '../helpers/api.ts';
import { DIALECTS, skipUnless } from '../helpers/databases.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

for (const dialect of DIALECTS) {
  describe(`API [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    let sw: TestSwitch;
    before(async () => {
      sw = await startTestSwitch(dialect);
    });
    after(async () => {
      await sw.close();
    });

    test('sign up, me, log out, log in', async () => {
      const api = new ApiClient(sw.httpUrl);
      const email = uniqueEmail();
      const s = await api.post('/auth/signup', { email, password: STRONG_PASSWORD });
      assert.equal(s.status, 201);
      const cookie = s.headers.get('set-cookie')!;
      assert.match(cookie, /HttpOnly/i);
      assert.match(cookie, /SameSite=Lax/i);
      const me = await api.get('/me');
      assert.equal(me.status, 200);
      assert.equal(me.body.user.email, email);
      assert.equal(me.body.tenant.timeZone, 'UTC');
      assert.equal((await api.post('/auth/logout')).status, 204);
      assert.equal((await api.get('/me')).status, 401);
      assert.equal((await api.post('/auth/login', { email: email.toUpperCase(), password: STRONG_PASSWORD })).status, 200);
      assert.equal((await api.get('/me')).status, 200);
    });

    test('login errors do not say whether the email exists', async () => {
      const api = await signUp(sw.httpUrl);
      const email = (await api.get('/me')).body.user.email;
      const wrongPassword = await new ApiClient(sw.httpUrl).post('/auth/login', { email, password: 'Wrong-Password-123' });
      const unknownEmail = await new ApiClient(sw.httpUrl).post('/auth/login', { email: uniqueEmail(), password: 'Wrong-Password-123' });
      assert.equal(wrongPassword.status, 401);
      assert.deepEqual(wrongPassword.body, unknownEmail.body);
      assert.equal(unknownEmail.status, 401);
    });

    test('sign-up validation names the field; duplicate email is 409', async () => {
      const api = new ApiClient(sw.httpUrl);
      const bad = await api.post('/auth/signup', { email: 'not-an-email', password: STRONG_PASSWORD });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.field, 'email');
      const weak = await api.post('/auth/signup', { email: uniqueEmail(), password: 'password123' });
      assert.equal(weak.status, 400);
      assert.equal(weak.body.field, 'password');
      const extra = await api.post('/auth/signup', { email: uniqueEmail(), password: STRONG_PASSWORD, admin: true });
      assert.equal(extra.status, 400);
      const email = uniqueEmail();
      assert.equal((await api.post('/auth/signup', { email, password: STRONG_PASSWORD })).status, 201);
      assert.equal((await new ApiClient(sw.httpUrl).post('/auth/signup', { email, password: STRONG_PASSWORD })).status, 409);
      const notJson = await new ApiClient(sw.httpUrl).request('POST', '/auth/signup', '{bad json', { 'content-type': 'application/json' });
      assert.equal(notJson.status, 400);
    });

    test('SIP accounts: create, read, update, delete, with validation', async () => {
      const api = await signUp(sw.httpUrl);
      const created = await api.post('/sip-accounts', { username: 'Alice.Test-1', password: 'Ferry-Lantern-Quartz-8', displayName: 'Alice' });
      assert.equal(created.status, 201);
      const a = created.body;
      assert.equal(a.username, 'alice.test-1');
      assert.equal(a.sipUri, 'sip:alice.test-1@127.0.0.1');
      assert.deepEqual(a.effectiveDigestAlgorithms, ['MD5']);
      assert.equal(JSON.stringify(a).includes('ha1'), false, 'no digests in the API');
      assert.equal((await api.get(`/sip-accounts/${a.id}`)).body.displayName, 'Alice');
      const patched = await api.patch(`/sip-accounts/${a.id}`, { digestAlgorithms: ['SHA-256', 'MD5'], displayName: null });
      assert.equal(patched.status, 200);
      assert.deepEqual(patched.body.digestAlgorithms, ['SHA-256', 'MD5']);
      assert.equal(patched.body.displayName, null);
      assert.equal((await api.get('/sip-accounts')).body.items.length, 1);
      assert.equal((await api.delete(`/sip-accounts/${a.id}`)).status, 204);
      assert.equal((await api.get(`/sip-accounts/${a.id}`)).status, 404);
      assert.equal((await api.delete(`/sip-accounts/${a.id}`)).status, 404);
    });

    test('SIP account validation errors name the field', async () => {
      const api = await signUp(sw.httpUrl);
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ username: '1abc', password: 'Ferry-Lantern-Quartz-8' }, 'username'],
        [{ username: 'ok-name', password: 'short' }, 'password'],
        [{ username: 'ok-name', password: 'aaaaaaaaaaaa' }, 'password'],
        [{ username: 'ok-name', password: 'Ferry-Lantern-Quartz-8', digestAlgorithms: ['SHA-1'] }, 'digestAlgorithms.0'],
        [{ username: 'ok-name', password: 'Ferry-Lantern-Quartz-8', digestAlgorithms: ['MD5', 'MD5'] }, 'digestAlgorithms'],
        [{ password: 'Ferry-Lantern-Quartz-8' }, 'username'],
      ];
      for (const [body, field] of cases) {
        const r = await api.post('/sip-accounts', body);
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.equal(r.body.field, field, JSON.stringify(r.body));
        assert.ok(r.body.error.startsWith(field), r.body.error);
      }
    });

    test('usernames are unique across the whole switch', async () => {
      const a = await signUp(sw.httpUrl);
      const b = await signUp(sw.httpUrl);
      const acct = await createSipAccount(a);
      const r = await b.post('/sip-accounts', { username: acct.username, password: 'Ferry-Lantern-Quartz-8' });
      assert.equal(r.status, 409);
      assert.equal(r.body.field, 'username');
    });

    test("another tenant's objects are 404 on every route", async () => {
      const owner = await signUp(sw.httpUrl);
      const other = await signUp(sw.httpUrl);
      const acct = await createSipAccount(owner);
      const key = (await owner.post('/api-keys', { name: 'ci' })).body;
      const phone = await TestPhone.open('udp', sw.sipPort);
      assert.equal((await phone.register({ user: acct.username, password: acct.password })).final.status, 200);
      phone.close();

      assert.equal((await other.get(`/sip-accounts/${acct.id}`)).status, 404);
      assert.equal((await other.patch(`/sip-accounts/${acct.id}`, { enabled: false })).status, 404);
      assert.equal((await other.patch(`/sip-accounts/${acct.id}`, { password: 'Hijack-Attempt-Zebra-5' })).status, 404);
      assert.equal((await other.delete(`/sip-accounts/${acct.id}`)).status, 404);
      assert.equal((await other.delete(`/api-keys/${key.id}`)).status, 404);
      assert.deepEqual((await other.get('/sip-accounts')).body.items, []);
      assert.deepEqual((await other.get('/registrations')).body.items, []);
      assert.deepEqual((await other.get(`/registrations?accountId=${acct.id}`)).body.items, []);
      assert.deepEqual((await other.get('/api-keys')).body.items, []);
      // Still intact for its owner.
      assert.equal((await owner.get(`/sip-accounts/${acct.id}`)).body.enabled, true);
      assert.equal((await owner.get('/registrations')).body.items.length, 1);
    });

    test('API keys: created once with their secret, usable as Bearer, revocable', async () => {
      const api = await signUp(sw.httpUrl);
      const created = await api.post('/api-keys', { name: 'provisioning' });
      assert.equal(created.status, 201);
      assert.match(created.body.key, /^sk_/);
      const listed = (await api.get('/api-keys')).body.items;
      assert.equal(listed.length, 1);
      assert.equal(JSON.stringify(listed).includes(created.body.key), false, 'secret not listed');
      const tool = new ApiClient(sw.httpUrl);
      tool.bearer = created.body.key;
      assert.equal((await tool.get('/me')).body.via, 'api-key');
      const acct = await tool.post('/sip-accounts', { username: `key${Date.now().toString(36)}`, password: 'Ferry-Lantern-Quartz-8' });
      assert.equal(acct.status, 201);
      assert.equal((await api.get('/sip-accounts')).body.items.length, 1, 'same tenant');
      assert.equal((await api.delete(`/api-keys/${created.body.id}`)).status, 204);
      assert.equal((await tool.get('/sip-accounts')).status, 401);
      tool.bearer = 'sk_forged';
      assert.equal((await tool.get('/sip-accounts')).status, 401);
    });

    test('unauthenticated requests are 401; unknown routes 404', async () => {
      const anon = new ApiClient(sw.httpUrl);
      for (const path of ['/sip-accounts', '/registrations', '/api-keys', '/me']) {
        assert.equal((await anon.get(path)).status, 401, path);
      }
      assert.equal((await (await signUp(sw.httpUrl)).get('/nope')).status, 404);
    });

    test('cookie-authenticated writes must be JSON from our own origin (CSRF)', async () => {
      const api = await signUp(sw.httpUrl);
      const form = await api.request('POST', '/api-keys', 'name=x', { 'content-type': 'application/x-www-form-urlencoded' });
      assert.equal(form.status, 415);
      const cross = await api.request('POST', '/api-keys', { name: 'x' }, { origin: 'https://evil.example' });
      assert.equal(cross.status, 403);
      const same = await api.request('POST', '/api-keys', { name: 'x' }, { origin: sw.httpUrl });
      assert.equal(same.status, 201);
    });

    test('health, readiness and metrics', async () => {
      assert.equal((await fetch(`${sw.httpUrl}/healthz`)).status, 200);
      assert.deepEqual(await (await fetch(`${sw.httpUrl}/readyz`)).json(), { ready: true });
      const metrics = await (await fetch(`${sw.httpUrl}/metrics`)).text();
      assert.match(metrics, /sip_register_total/);
      assert.match(metrics, /process_cpu_seconds_total/);
    });
  });
}

describe('API rate limits', () => {
  let sw: TestSwitch;
  before(async () => {
    sw = await startTestSwitch('sqlite', { env: { HTTP_SIGNUPS_PER_HOUR: '3', HTTP_LOGINS_PER_15MIN: '4' } });
  });
  after(async () => {
    await sw.close();
  });

  test('sign-ups per address are limited with a message that says when to retry', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await new ApiClient(sw.httpUrl).post('/auth/signup', { email: uniqueEmail(), password: STRONG_PASSWORD })).status, 201);
    const r = await new ApiClient(sw.httpUrl).post('/auth/signup', { email: uniqueEmail(), password: STRONG_PASSWORD });
    assert.equal(r.status, 429);
    assert.match(r.body.error, /too many sign-ups.*try again in \d+ minutes/);
  });

  test('login attempts per address and email are limited', async () => {
    const email = uniqueEmail();
    for (let i = 0; i < 4; i++) assert.equal((await new ApiClient(sw.httpUrl).post('/auth/login', { email, password: 'Wrong-Password-1' })).status, 401);
    const r = await new ApiClient(sw.httpUrl).post('/auth/login', { email, password: 'Wrong-Password-1' });
    assert.equal(r.status, 429);
    assert.match(r.body.error, /too many login attempts/);
    // Another email from the same address is not locked out by this one.
    assert.equal((await new ApiClient(sw.httpUrl).post('/auth/login', { email: uniqueEmail(), password: 'Wrong-Password-1' })).status, 401);
  });
});

describe('login spraying', () => {
  let sw: TestSwitch;
  before(async () => {
    sw = await startTestSwitch('sqlite', { env: { HTTP_LOGINS_PER_15MIN: '4', HTTP_LOGINS_PER_15MIN_PER_ADDRESS: '6' } });
  });
  after(async () => {
    await sw.close();
  });

  test('login attempts from one address are limited across emails', async () => {
    // One password tried against many accounts: each email alone stays far below its own limit.
    for (let i = 0; i < 6; i++) assert.equal((await new ApiClient(sw.httpUrl).post('/auth/login', { email: uniqueEmail(), password: 'Summer-2024-Spray' })).status, 401);
    const r = await new ApiClient(sw.httpUrl).post('/auth/login', { email: uniqueEmail(), password: 'Summer-2024-Spray' });
    assert.equal(r.status, 429);
    assert.match(r.body.error, /too many login attempts from this address.*try again in \d+ minutes/);
  });
});
