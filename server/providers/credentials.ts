/**
 * Provider passwords at rest: AES-256-GCM under a key that comes from configuration, so a copy of
 * the database alone does not reveal them. Each value records the id of the key that sealed it;
 * opening it under another key fails with a message that says so instead of returning garbage.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const FORMAT = 'v1';

export class CredentialKeyError extends Error {}

export class CredentialCipher {
  /** A short fingerprint of the key, stored beside each value (not secret: a hash prefix). */
  readonly keyId: string;

  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new CredentialKeyError('the credentials key must be 32 bytes');
    this.keyId = createHash('sha256').update(key).digest('hex').slice(0, 8);
  }

  /** Reads a key written as 64 hex digits or as base64 of 32 bytes. */
  static parseKey(text: string): Buffer {
    const t = text.trim();
    const key = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
    if (key.length !== 32) throw new CredentialKeyError('the credentials key must be 32 bytes, as 64 hex digits or base64');
    return key;
  }

  seal(plain: string, aad: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(Buffer.from(aad));
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return [FORMAT, this.keyId, iv.toString('base64url'), c.getAuthTag().toString('base64url'), body.toString('base64url')].join(':');
  }

  /**
   * `aad` binds a value to its row (the provider id): a sealed password copied onto another
   * tenant's provider does not open.
   */
  open(sealed: string, aad: string): string {
    const [format, keyId, iv, tag, body] = sealed.split(':');
    if (format !== FORMAT || !iv || !tag || body === undefined) throw new CredentialKeyError('stored credential is not in a known format');
    if (keyId !== this.keyId) throw new CredentialKeyError(`stored credential was sealed with key ${keyId}, but the configured key is ${this.keyId}`);
    const d = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    d.setAAD(Buffer.from(aad));
    d.setAuthTag(Buffer.from(tag, 'base64url'));
    try {
      return Buffer.concat([d.update(Buffer.from(body, 'base64url')), d.final()]).toString('utf8');
    } catch {
      throw new CredentialKeyError('stored credential does not open with the configured key (tampered or copied from another row)');
    }
  }
}
