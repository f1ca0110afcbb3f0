/**
 * The softphone's SIP credentials (issue 18): POST /sip-accounts/:id/browser-session gives a
 * short-lived random password for the account, never the account's own; a REGISTER with it
 * succeeds until it expires, then is refused; another tenant's account is not found; a disabled
 * account gets none, and disabling an account revokes the ones it had.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSipAccount, signUp, type ApiClient } from '../helpers/api.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

interface BrowserSession {
  accountId: string;
  webSocketUrl: string;
  sipUri: string;
  authorizationUser: string;
  password: string;
  expiresAt: string;
}

const TTL_SECONDS = 2;

describe('softphone browser sessions', { timeout: 60_000 }, () => {
  let sw: TestSwitch;
  let a: ApiClient;
  let b: ApiClient;
  const phones: TestPhone[] = [];

  before(async () => {
    sw = await startTestSwitch('sqlite', { env: { SOFTPHONE_PASSWORD_SECONDS: String(TTL_SECONDS) } });
    a = await signUp(sw.httpUrl);
    b = await signUp(sw.httpUrl);
  });
  after(async () => {
    for (const p of phones) p.close();
    await sw?.close();
  });

  async function register(user: string, password: string): Promise<number> {
    const phone = await TestPhone.open('ws', sw.running.httpPort, '127.0.0.1', { origin: sw.httpUrl });
    phones.push(phone);
    return (await phone.register({ user, password, expires: 60 })).final.status;
  }

  test('gives what JsSIP needs, and the password registers until it expires', async () => {
    const account = await createSipAccount(a);
    const r = await a.post(`/sip-accounts/${account.id}/browser-session`, {});
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const s = r.body as BrowserSession;
    assert.equal(s.accountId, account.id);
    assert.equal(s.webSocketUrl, `ws://127.0.0.1:${sw.running.httpPort}/sip`);
    assert.match(s.sipUri, new RegExp(`^sip:${account.username}@`));
    assert.equal(s.authorizationUser, account.username);
    assert.notEqual(s.password, account.password);
    assert.ok(s.password.length >= 32, 'a long random password');
    const expiresIn = Date.parse(s.expiresAt) - Date.now();
    assert.ok(expiresIn > 0 && expiresIn <= TTL_SECONDS * 1000 + 1000, `expires in ${expiresIn} ms`);
    assert.equal(r.headers.get('cache-control'), 'no-store');

    assert.equal(await register(account.username, s.password), 200, 'registers with the session password');
    assert.equal(await register(account.username, account.password), 200, "the account's own password still works");
    assert.equal(await register(account.username, 'not-it'), 403);

    await new Promise((resolve) => setTimeout(resolve, Date.parse(s.expiresAt) - Date.now() + 300));
    const late = await register(account.username, s.password);
    assert.ok(late === 401 || late === 403, `an expired session password is refused: ${late}`);
  });

  test("another tenant's account is not found; bad input refused", async () => {
    const account = await createSipAccount(a);
    assert.equal((await b.post(`/sip-accounts/${account.id}/browser-session`, {})).status, 404);
    assert.equal((await a.post(`/sip-accounts/${account.id}/browser-session`, { ttl: 99 })).status, 400);
    // Its password is not good for another account either.
    const other = await createSipAccount(a);
    const s = (await a.post(`/sip-accounts/${account.id}/browser-session`, {})).body as BrowserSession;
    assert.equal(await register(other.username, s.password), 403);
  });

  test('a disabled account gets none, and disabling revokes those it had', async () => {
    const account = await createSipAccount(a);
    const s = (await a.post(`/sip-accounts/${account.id}/browser-session`, {})).body as BrowserSession;
    assert.equal((await a.patch(`/sip-accounts/${account.id}`, { enabled: false })).status, 200);
    assert.equal((await a.post(`/sip-accounts/${account.id}/browser-session`, {})).status, 409);
    assert.equal((await a.patch(`/sip-accounts/${account.id}`, { enabled: true })).status, 200);
    assert.equal(await register(account.username, s.password), 403, 'revoked when the account was disabled');
  });
});
