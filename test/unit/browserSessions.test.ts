/** The softphone's short-lived SIP passwords (server/sip/browserSessions.ts, issue 18). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BrowserSessions } from '../../server/sip/browserSessions.ts';
import { computeHa1 } from '../../server/sip/digest.ts';

const account = { tenantId: 't1', id: 'a1', username: 'alice' };

test('keeps only the digests of a password, for its own tenant and account, until it expires', () => {
  let now = 1_000;
  const sessions = new BrowserSessions('sip.example.com', () => now);
  const { password, expiresAt } = sessions.issue({ tenantId: 't1', accountId: 'a1', username: 'alice' }, 60_000);
  assert.equal(expiresAt, 61_000);
  assert.match(password, /^[0-9a-f]{48}$/);
  assert.deepEqual(sessions.ha1s(account, 'MD5'), [computeHa1('MD5', 'alice', 'sip.example.com', password)]);
  assert.deepEqual(sessions.ha1s(account, 'SHA-256'), [computeHa1('SHA-256', 'alice', 'sip.example.com', password)]);
  assert.ok(!JSON.stringify(sessions).includes(password), 'the password itself is not kept');
  // Same username, another tenant or another account id: nothing.
  assert.deepEqual(sessions.ha1s({ ...account, tenantId: 't2' }, 'MD5'), []);
  assert.deepEqual(sessions.ha1s({ ...account, id: 'a2' }, 'MD5'), []);
  now = 61_000;
  assert.deepEqual(sessions.ha1s(account, 'MD5'), [], 'expired');
});

test('a few live passwords per account at most; revoke forgets them all', () => {
  const sessions = new BrowserSessions('sip.example.com', () => 0);
  for (let i = 0; i < 20; i++) sessions.issue({ tenantId: 't1', accountId: 'a1', username: 'alice' }, 60_000);
  assert.equal(sessions.ha1s(account, 'MD5').length, 8);
  sessions.revoke('alice');
  assert.deepEqual(sessions.ha1s(account, 'MD5'), []);
});
