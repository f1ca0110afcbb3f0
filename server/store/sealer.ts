/**
 * What the store needs to keep secrets at rest (provider passwords, the local snapshot): seal a
 * value bound to `aad` (the row or file it belongs to) and open it again, failing on any other.
 * The one in use is the provider subsystem's CredentialCipher (AES-256-GCM under the configured
 * key).
 */
export interface Sealer {
  seal(plain: string, aad: string): string;
  open(sealed: string, aad: string): string;
}
