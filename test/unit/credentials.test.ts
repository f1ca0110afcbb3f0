import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { CredentialCipher, CredentialKeyError } from '../../server/providers/credentials.ts';

test('a sealed password opens with the same key and row, and does not show the password', () => {
  const c = new CredentialCipher(randomBytes(32));
  const sealed = c.seal('s3cret-trunk-pass', 'provider-1');
  assert.ok(!sealed.includes('s3cret'));
  assert.notEqual(c.seal('s3cret-trunk-pass', 'provider-1'), sealed, 'a fresh IV each time');
  assert.equal(c.open(sealed, 'provider-1'), 's3cret-trunk-pass');
});

test('another key, another row or a flipped byte is refused with a message that says why', () => {
  const c = new CredentialCipher(randomBytes(32));
  const other = new CredentialCipher(randomBytes(32));
  const sealed = c.seal('pw', 'provider-1');
  assert.throws(
    () => other.open(sealed, 'provider-1'),
    (e: Error) => e instanceof CredentialKeyError && e.message.includes(c.keyId) && e.message.includes(other.keyId),
  );
  assert.throws(() => c.open(sealed, 'provider-2'), /does not open/);
  const parts = sealed.split(':');
  const body = Buffer.from(parts[4]!, 'base64url');
  body[0]! ^= 1;
  parts[4] = body.toString('base64url');
  assert.throws(() => c.open(parts.join(':'), 'provider-1'), /does not open/);
  assert.throws(() => c.open('plain-text', 'provider-1'), /known format/);
});

test('keys are read as 64 hex digits or base64 of 32 bytes; anything else is refused', () => {
  const raw = randomBytes(32);
  assert.deepEqual(CredentialCipher.parseKey(raw.toString('hex')), raw);
  assert.deepEqual(CredentialCipher.parseKey(`${raw.toString('base64')}\n`), raw);
  assert.throws(() => CredentialCipher.parseKey('too-short'), CredentialKeyError);
});
