/**
 * Digest-authenticates a request against the SIP account named in its credentials, answering the
 * challenge or the refusal itself. Unknown and known users see the same answers; the only
 * difference a stranger can observe is an account's own algorithm override, which the account's
 * owner chose (see README, "Security").
 *
 * A failure counts against the source (authGuard.ts) only when the credentials answer a fresh
 * nonce this switch issued to that very address: anyone can put any source address on a UDP
 * packet, but only the real holder of the address received our challenge there. Credentials that
 * answer no nonce of ours for this address are treated as no credentials at all: challenged.
 */
import type { Logger } from 'pino';
import type { DigestAlgorithm } from '../../contract/sipAccounts.ts';
import type { SipAccount } from '../store/sipAccounts.ts';
import type { AuthGuard } from './authGuard.ts';
import type { BrowserSessions } from './browserSessions.ts';
import { DigestAuthenticator, readCredentials, type Credentials } from './digest.ts';
import type { AuthParams, SipRequest } from './message.ts';
import type { ServerTransaction } from './transactions.ts';
import type { AnyPeer } from './transport.ts';

export interface AccountLookup {
  byUsername(username: string): Promise<SipAccount | null>;
}

export interface Authenticated {
  account: SipAccount;
  algorithm: DigestAlgorithm;
}

type Flavour = { status: 401; request: 'authorization'; challenge: 'www-authenticate' } | { status: 407; request: 'proxy-authorization'; challenge: 'proxy-authenticate' };

const REGISTRAR: Flavour = { status: 401, request: 'authorization', challenge: 'www-authenticate' };
const PROXY: Flavour = { status: 407, request: 'proxy-authorization', challenge: 'proxy-authenticate' };

export class RequestAuthenticator {
  constructor(
    private readonly digest: DigestAuthenticator,
    private readonly accounts: AccountLookup,
    private readonly guard: AuthGuard,
    private readonly defaultAlgorithms: readonly DigestAlgorithm[],
    private readonly log: Logger,
    /** Who made an address exempt from bans (the providers naming it), for the log. */
    private readonly exemptBecause: (ip: string) => unknown = () => undefined,
    /** The portal softphone's short-lived passwords, tried beside the account's own. */
    private readonly browserSessions?: BrowserSessions,
  ) {}

  /** For REGISTER (401/WWW-Authenticate). `username` is the account the request claims to be. */
  asRegistrar(tx: ServerTransaction<AnyPeer>, username: string): Promise<Authenticated | undefined> {
    return this.authenticate(tx, username, REGISTRAR);
  }

  /** For requests a proxy authenticates (INVITE and the like: 407/Proxy-Authenticate). */
  asProxy(tx: ServerTransaction<AnyPeer>, username: string): Promise<Authenticated | undefined> {
    return this.authenticate(tx, username, PROXY);
  }

  private algorithmsFor(account: SipAccount | null): readonly DigestAlgorithm[] {
    return account?.digestAlgorithms ?? this.defaultAlgorithms;
  }

  private pickCredentials(values: AuthParams[] | undefined): Credentials | undefined {
    for (const v of values ?? []) {
      const c = readCredentials(v);
      if (c && c.realm === this.digest.realm) return c;
    }
    return undefined;
  }

  /**
   * Whether the request carries credentials that answer a fresh nonce we issued to `ip`, for a
   * (username, address) pair that is not blocked: the flood limit lets those through, as the
   * guard counts their failures (forged credentials have none of that and are rate-limited).
   */
  provesSource(req: SipRequest, ip: string): boolean {
    for (const name of ['authorization', 'proxy-authorization'] as const) {
      const creds = this.pickCredentials(req.headers[name]);
      if (creds && this.digest.nonceState(creds.nonce, ip) === 'fresh' && !this.guard.isPairBlocked(creds.username, ip)) return true;
    }
    return false;
  }

  private async authenticate(tx: ServerTransaction<AnyPeer>, username: string, f: Flavour): Promise<Authenticated | undefined> {
    const ip = tx.source.address;
    const creds = this.pickCredentials(tx.request.headers[f.request] as AuthParams[] | undefined);
    // Looked up whether or not credentials came, so both paths cost the same.
    const account = await this.accounts.byUsername(creds?.username ?? username);
    const offered = this.algorithmsFor(account);
    const nonce = creds ? this.digest.nonceState(creds.nonce, ip) : 'foreign';
    if (!creds || nonce === 'foreign') {
      tx.respond(f.status, undefined, { [f.challenge]: this.digest.challenge(offered, ip) });
      return undefined;
    }
    // An expired nonce of ours proved the address once, but not lately: its failures do not count.
    const proven = nonce === 'fresh';
    if (creds.username !== username || this.guard.isPairBlocked(creds.username, ip)) {
      this.refuse(tx, creds.username, ip, 'identity-mismatch-or-blocked', proven);
      return undefined;
    }
    const usable = account && account.enabled ? account : null;
    const algorithm = creds.algorithm === 'SHA-256' ? 'SHA-256' : 'MD5';
    const ha1 = usable ? [algorithm === 'SHA-256' ? usable.ha1Sha256 : usable.ha1Md5, ...(this.browserSessions?.localHa1s(usable, algorithm) ?? [])] : null;
    let verdict = this.digest.verify(creds, tx.request.method, tx.request.uri, ip, offered, ha1);
    if (usable && !verdict.ok && verdict.why === 'bad-credentials' && this.browserSessions?.shared) {
      // A softphone password another node issued (Redis): looked up only when nothing here matched,
      // so a phone's own password costs no round trip.
      const more = await this.browserSessions.sharedHa1s(usable, algorithm);
      if (more.length) verdict = this.digest.verify(creds, tx.request.method, tx.request.uri, ip, offered, more);
    }
    if (verdict.ok) {
      this.guard.recordSuccess(creds.username, ip);
      return { account: usable!, algorithm: verdict.algorithm };
    }
    if (verdict.why === 'stale' || verdict.why === 'replay' || verdict.why === 'bad-nonce') {
      // A nonce problem says nothing about the password: challenge afresh.
      tx.respond(f.status, undefined, { [f.challenge]: this.digest.challenge(offered, ip, verdict.why !== 'bad-nonce') });
      return undefined;
    }
    if (verdict.why === 'uri-mismatch') {
      // RFC 7616 §3.4.6: credentials made for another resource are a bad request, not a wrong password.
      this.log.info({ username: creds.username, ip, uri: creds.uri, requestUri: tx.request.uri, method: tx.request.method }, 'SIP credentials for another URI');
      tx.respond(400, 'Authorization URI Mismatch');
      return undefined;
    }
    this.refuse(tx, creds.username, ip, verdict.why, proven);
    return undefined;
  }

  private refuse(tx: ServerTransaction<AnyPeer>, username: string, ip: string, why: string, proven: boolean): void {
    const outcome = proven ? this.guard.recordFailure(username, ip) : 'not-counted';
    const exempt = outcome === 'ban-exempt' ? { providers: this.exemptBecause(ip) } : {};
    this.log[outcome === 'none' || outcome === 'not-counted' ? 'info' : 'warn']({ username, ip, why, outcome, method: tx.request.method, ...exempt }, 'SIP authentication failed');
    tx.respond(403, 'Forbidden');
  }
}
