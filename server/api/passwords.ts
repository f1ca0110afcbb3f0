/**
 * Portal password hashing with scrypt (node:crypto, in libuv's thread pool):
 * `scrypt$N$r$p$salt$hash`, all base64url. And the strength check every new password passes.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { HttpError } from './errors.ts';
import { PasswordStrengthChecker, StrengthCheckUnavailable } from './passwordStrength.ts';

const scrypt = (password: string, salt: Buffer, keylen: number, options: ScryptOptions) =>
  new Promise<Buffer>((resolve, reject) => scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))));

const PARAMS = { N: 16384, r: 8, p: 1 };
const KEYLEN = 32;

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEYLEN, PARAMS);
  return ['scrypt', PARAMS.N, PARAMS.r, PARAMS.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const key = await scrypt(password, Buffer.from(salt, 'base64url'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
  });
  return timingSafeEqual(key, expected);
}

/** Compared against when a login names an unknown email, so both cost one scrypt. */
export const DUMMY_HASH = await hashPassword(randomBytes(16).toString('hex'));

const strength = new PasswordStrengthChecker();

/**
 * Why a password is too weak, or undefined. `context` words (email, username) count against it.
 * Scored in a worker thread (passwordStrength.ts); when too many checks are waiting the answer is a
 * 503 to try again, never a longer queue.
 */
export async function passwordWeakness(password: string, context: string[] = []): Promise<string | undefined> {
  if (password.length < 10) return 'must be at least 10 characters';
  if (password.length > 200) return 'must be at most 200 characters';
  let score: number;
  try {
    score = await strength.score(password, context);
  } catch (err) {
    if (err instanceof StrengthCheckUnavailable) throw new HttpError(503, `password check unavailable (${err.message}); try again in a moment`);
    throw err;
  }
  if (score < 3) return 'is too easy to guess; use a longer or less predictable password';
  return undefined;
}
