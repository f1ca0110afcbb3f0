/**
 * HTTP Digest for SIP (RFC 3261 §22, RFC 7616, RFC 8760): MD5 and SHA-256 with qop=auth.
 *
 * Nonces are stateless and signed (time, randomness, the client's IP, the realm) so any request can
 * be checked without a lookup; a nonce is good for `nonceTtlMs`, after which the client gets
 * `stale=true`. Replays are refused by remembering the highest nonce-count seen per nonce until the
 * nonce expires. A fresh nonce signed for the request's source also proves that the source is
 * real: it received our challenge there (a forged source address cannot), which is what lets a
 * failure count against that address (see authenticate.ts).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { randomToken } from './random.ts';
import type { DigestAlgorithm } from '../../contract/sipAccounts.ts';
import type { AuthParams } from './message.ts';
import { digestUriNames } from './uriMatch.ts';

const HASH: Record<DigestAlgorithm, 'md5' | 'sha256'> = { MD5: 'md5', 'SHA-256': 'sha256' };

export function digestHash(algorithm: DigestAlgorithm, text: string): string {
  return createHash(HASH[algorithm]).update(text, 'utf8').digest('hex');
}

export function computeHa1(algorithm: DigestAlgorithm, username: string, realm: string, password: string): string {
  return digestHash(algorithm, `${username}:${realm}:${password}`);
}

export function unquote(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1).replace(/\\(.)/g, '$1') : v;
}

export type Verdict =
  | { ok: true; algorithm: DigestAlgorithm }
  /** The nonce was ours but is too old or already used: challenge again with stale=true. */
  | { ok: false; why: 'stale' | 'replay' }
  /** Wrong credentials, unknown user, or a nonce we never issued. */
  | { ok: false; why: 'bad-credentials' | 'bad-nonce' | 'malformed' | 'algorithm' }
  /** Credentials computed for another resource than the Request-URI (RFC 7616 §3.4.6). */
  | { ok: false; why: 'uri-mismatch' };

/** What a nonce in credentials says about their source: ours for it and in date, ours but expired, or not ours for it. */
export type NonceState = 'fresh' | 'expired' | 'foreign';

export interface Credentials {
  username: string;
  realm: string;
  nonce: string;
  uri: string;
  response: string;
  algorithm: DigestAlgorithm | undefined;
  qop?: string;
  nc?: string;
  cnonce?: string;
}

/** Reads an Authorization header's fields; undefined when a required one is missing. */
export function readCredentials(auth: AuthParams): Credentials | undefined {
  if (auth.scheme?.toLowerCase() !== 'digest') return undefined;
  const username = unquote(auth.username);
  const realm = unquote(auth.realm);
  const nonce = unquote(auth.nonce);
  const uri = unquote(auth.uri);
  const response = unquote(auth.response);
  if (!username || realm === undefined || !nonce || !uri || !response) return undefined;
  const alg = unquote(auth.algorithm)?.toUpperCase() ?? 'MD5';
  const algorithm = alg === 'MD5' || alg === 'SHA-256' ? alg : undefined;
  return { username, realm, nonce, uri, response, algorithm, qop: unquote(auth.qop), nc: unquote(auth.nc), cnonce: unquote(auth.cnonce) };
}

export interface DigestOptions {
  realm: string;
  secret: Buffer;
  nonceTtlMs: number;
  /** Upper bound on nonces remembered for replay protection; beyond it new nonces count as stale. */
  maxTrackedNonces?: number;
}

interface Seen {
  nc: number;
  expiresAt: number;
}

export class DigestAuthenticator {
  /** Highest nonce-count per nonce, in first-use order (≈ expiry order) for a cheap sweep. */
  private readonly seen = new Map<string, Seen>();
  private readonly maxTracked: number;

  constructor(private readonly options: DigestOptions) {
    this.maxTracked = options.maxTrackedNonces ?? 1_000_000;
  }

  get realm(): string {
    return this.options.realm;
  }

  private sign(issued: string, random: string, clientIp: string): string {
    return createHmac('sha256', this.options.secret).update(`${issued}.${random}.${clientIp}.${this.options.realm}`).digest('base64url').slice(0, 22);
  }

  newNonce(clientIp: string, now = Date.now()): string {
    const issued = now.toString(36);
    const random = randomToken(9, 'base64url');
    return `${issued}.${random}.${this.sign(issued, random, clientIp)}`;
  }

  /** One WWW-Authenticate/Proxy-Authenticate value per algorithm, in the order given. */
  challenge(algorithms: readonly DigestAlgorithm[], clientIp: string, stale = false): AuthParams[] {
    const nonce = this.newNonce(clientIp);
    return algorithms.map((algorithm) => {
      const c: AuthParams = { scheme: 'Digest', realm: `"${this.options.realm}"`, nonce: `"${nonce}"`, qop: '"auth"', algorithm };
      if (stale) c.stale = 'true';
      return c;
    });
  }

  nonceState(nonce: string, clientIp: string, now = Date.now()): NonceState {
    const issuedAt = this.nonceIssuedAt(nonce, clientIp);
    if (issuedAt === undefined) return 'foreign';
    return now - issuedAt > this.options.nonceTtlMs ? 'expired' : 'fresh';
  }

  /** When the nonce was issued (ms), or undefined when we did not sign it for this client. */
  private nonceIssuedAt(nonce: string, clientIp: string): number | undefined {
    const parts = nonce.split('.');
    if (parts.length !== 3) return undefined;
    const [issued, random, mac] = parts as [string, string, string];
    const expected = Buffer.from(this.sign(issued, random, clientIp));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    const at = parseInt(issued, 36);
    return Number.isFinite(at) ? at : undefined;
  }

  /**
   * Checks credentials against the stored HA1 for their algorithm. `ha1` is null for an unknown
   * user: a stand-in is hashed so that unknown and known users cost the same and answer the same.
   * `requestUri` is the Request-URI of the request they came with: their `uri` must name it.
   * Several HA1s may be given (the account's and its softphone passwords', browserSessions.ts): any one matching will do.
   */
  verify(
    creds: Credentials,
    method: string,
    requestUri: string,
    clientIp: string,
    offered: readonly DigestAlgorithm[],
    ha1: string | null | readonly string[],
    now = Date.now(),
  ): Verdict {
    if (!creds.algorithm || !offered.includes(creds.algorithm)) return { ok: false, why: 'algorithm' };
    if (creds.realm !== this.options.realm) return { ok: false, why: 'bad-credentials' };
    if (creds.qop !== 'auth' || !creds.cnonce || !creds.nc || !/^[0-9a-fA-F]{8}$/.test(creds.nc)) {
      return { ok: false, why: 'malformed' };
    }
    const issuedAt = this.nonceIssuedAt(creds.nonce, clientIp);
    if (issuedAt === undefined) return { ok: false, why: 'bad-nonce' };
    if (!digestUriNames(creds.uri, requestUri)) return { ok: false, why: 'uri-mismatch' };

    const algorithm = creds.algorithm;
    const keys = ha1 === null ? [] : typeof ha1 === 'string' ? [ha1] : ha1;
    const ha2 = digestHash(algorithm, `${method}:${creds.uri}`);
    const given = creds.response.toLowerCase();
    let match = false;
    for (const key of keys.length ? keys : [this.standInHa1(algorithm, creds.username)]) {
      const expected = digestHash(algorithm, `${key}:${creds.nonce}:${creds.nc}:${creds.cnonce}:auth:${ha2}`);
      if (given.length === expected.length && timingSafeEqual(Buffer.from(given), Buffer.from(expected))) match = true;
    }
    if (!match || keys.length === 0) return { ok: false, why: 'bad-credentials' };

    if (now - issuedAt > this.options.nonceTtlMs) return { ok: false, why: 'stale' };
    const nc = parseInt(creds.nc, 16);
    const seen = this.seen.get(creds.nonce);
    if (seen) {
      if (nc <= seen.nc) return { ok: false, why: 'replay' };
      seen.nc = nc;
    } else {
      this.sweep(now);
      if (this.seen.size >= this.maxTracked) return { ok: false, why: 'stale' };
      this.seen.set(creds.nonce, { nc, expiresAt: issuedAt + this.options.nonceTtlMs });
    }
    return { ok: true, algorithm };
  }

  private standInHa1(algorithm: DigestAlgorithm, username: string): string {
    return createHmac(HASH[algorithm], this.options.secret).update(`unknown:${username}`).digest('hex');
  }

  private sweep(now: number): void {
    for (const [nonce, s] of this.seen) {
      if (s.expiresAt > now) break;
      this.seen.delete(nonce);
    }
  }
}
