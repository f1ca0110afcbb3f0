/**
 * The client side of SIP digest (RFC 3261 §22.2, RFC 7616, RFC 8760): answering a provider's
 * 401/407 challenge with our credentials. Offers of several algorithms are answered with the
 * strongest we know; `qop=auth` is used whenever the challenge offers it.
 */
import { randomToken } from './random.ts';
import { digestHash, unquote } from './digest.ts';
import type { DigestAlgorithm } from '../../contract/sipAccounts.ts';
import type { AuthParams, SipResponse } from './message.ts';

export interface DigestCredentials {
  username: string;
  password: string;
}

export interface Challenge {
  /** Header to answer with: `authorization` for a 401, `proxy-authorization` for a 407. */
  header: 'authorization' | 'proxy-authorization';
  realm: string;
  nonce: string;
  algorithm: DigestAlgorithm;
  qop: 'auth' | null;
  opaque?: string;
}

const STRENGTH: Record<DigestAlgorithm, number> = { MD5: 0, 'SHA-256': 1 };

function lowerKeys(a: AuthParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(a)) out[k.toLowerCase()] = v;
  return out;
}

/** The challenge of a 401/407 that we can answer, or null (no digest we support). */
export function readChallenge(res: SipResponse): Challenge | null {
  const header = res.status === 407 ? 'proxy-authorization' : 'authorization';
  const offers = (res.status === 407 ? res.headers['proxy-authenticate'] : res.headers['www-authenticate']) as AuthParams[] | undefined;
  let best: Challenge | null = null;
  for (const raw of offers ?? []) {
    const a = lowerKeys(raw);
    if (a.scheme?.toLowerCase() !== 'digest') continue;
    const alg = (unquote(a.algorithm) ?? 'MD5').toUpperCase();
    if (alg !== 'MD5' && alg !== 'SHA-256') continue;
    const nonce = unquote(a.nonce);
    const realm = unquote(a.realm);
    if (!nonce || realm === undefined) continue;
    const qops = (unquote(a.qop) ?? '').split(',').map((q) => q.trim().toLowerCase());
    // A challenge offering only auth-int cannot be answered without hashing bodies we may not hold.
    if (qops[0] !== '' && !qops.includes('auth')) continue;
    const c: Challenge = { header, realm, nonce, algorithm: alg, qop: qops.includes('auth') ? 'auth' : null, ...(a.opaque ? { opaque: unquote(a.opaque)! } : {}) };
    if (!best || STRENGTH[c.algorithm] > STRENGTH[best.algorithm]) best = c;
  }
  return best;
}

const quoted = (s: string): string => `"${s.replace(/["\\]/g, '\\$&')}"`;

/** The Authorization (or Proxy-Authorization) value answering `c` for a request. */
export function answerChallenge(
  c: Challenge,
  creds: DigestCredentials,
  method: string,
  uri: string,
  { nonceCount = 1, cnonce = randomToken(16) }: { nonceCount?: number; cnonce?: string } = {},
): AuthParams {
  const h = (s: string) => digestHash(c.algorithm, s);
  const ha1 = h(`${creds.username}:${c.realm}:${creds.password}`);
  const ha2 = h(`${method}:${uri}`);
  const out: AuthParams = {
    scheme: 'Digest',
    username: quoted(creds.username),
    realm: quoted(c.realm),
    nonce: quoted(c.nonce),
    uri: quoted(uri),
    algorithm: c.algorithm,
  };
  if (c.qop) {
    const nc = nonceCount.toString(16).padStart(8, '0');
    out.response = quoted(h(`${ha1}:${c.nonce}:${nc}:${cnonce}:auth:${ha2}`));
    out.qop = 'auth';
    out.nc = nc;
    out.cnonce = quoted(cnonce);
  } else {
    out.response = quoted(h(`${ha1}:${c.nonce}:${ha2}`));
  }
  if (c.opaque !== undefined) out.opaque = quoted(c.opaque);
  return out;
}
