import { randomBytes } from 'node:crypto';

/**
 * Random tokens for tags, branches and nonces. One `randomBytes` call per token cost more than
 * the rest of a REGISTER's SIP handling, so bytes are drawn from the CSPRNG in blocks.
 */
const BLOCK = 4096;
let pool = randomBytes(BLOCK);
let offset = 0;

export function randomToken(bytes: number, encoding: 'hex' | 'base64url' = 'hex'): string {
  if (offset + bytes > BLOCK) {
    pool = randomBytes(BLOCK);
    offset = 0;
  }
  const s = pool.toString(encoding, offset, offset + bytes);
  offset += bytes;
  return s;
}
