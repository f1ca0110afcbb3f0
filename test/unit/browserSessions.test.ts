/**
 * The softphone's short-lived SIP passwords (server/sip/browserSessions.ts, issue 18): digests
 * only, scoped to tenant and account, until they expire (shared through Redis:
 * test/cluster/browserSessions.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BrowserSessions } from '../../server/sip/browserSessions.ts';
import { computeHa1 } from '../../server/sip/digest.ts';

const account = { tenantId: 't1', id: 'a1', username: 'alice' };
const alice = { tenantId: 't1', accountId: 'a1', username: 'alice' };

test('keeps only the digests of a password, for its own tenant and account, until it expires', async () => {
  let now = 1_000;
  const sessions = new BrowserSessions('sip.example.com', () => now);
  const { password, expiresAt } = await sessions.issue(alice, 60_000);
  assert.equal(expiresAt, 61_000);
  assert.match(password, /^[0-9a-f]{48}$/);
  assert.deepEqual(await sessions.ha1s(account, 'MD5'), [computeHa1('MD5', 'alice', 'sip.example.com', password)]);
  assert.deepEqual(await sessions.ha1s(account, 'SHA-256'), [computeHa1('SHA-256', 'alice', 'sip.example.com', password)]);
  assert.ok(
    !JSON.stringify([...(sessions as unknown as { byUser: Map<string, Map<string, unknown>> }).byUser.get('alice')!.values()]).includes(password),
    'the password itself is not kept',
  );
  // Same username, another tenant or another account id: nothing.
  assert.deepEqual(await sessions.ha1s({ ...account, tenantId: 't2' }, 'MD5'), []);
  assert.deepEqual(await sessions.ha1s({ ...account, id: 'a2' }, 'MD5'), []);
  now = 61_000;
  assert.deepEqual(await sessions.ha1s(account, 'MD5'), [], 'expired');
});

test('a few live passwords per account at most; revoke forgets them all', async () => {
  let now = 0;
  const sessions = new BrowserSessions('sip.example.com', () => now++);
  for (let i = 0; i < 20; i++) await sessions.issue(alice, 60_000);
  assert.equal((await sessions.ha1s(account, 'MD5')).length, 8);
  await sessions.revoke('alice');
  assert.deepEqual(await sessions.ha1s(account, 'MD5'), []);
});
