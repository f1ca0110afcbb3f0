/**
 * Digest-authenticates a request against the SIP account named in its credentials, answering the
 * challenge or the refusal itself. Unknown and known users see the same answers; the only
 * difference a stranger can observe is an account's own algorithm override, which the account's
 * owner chose (see README, "Security").
 */
import type { Logger } from 'pino';
import type { DigestAlgorithm } from '../config.ts';
import type { SipAccount } from '../store/sipAccounts.ts';
import type { AuthGuard } from './authGuard.ts';
import { DigestAuthenticator, readCredentials, type Credentials } from './digest.ts';
import type { AuthParams } from './message.ts';
import type { ServerTransaction } from './transactions.ts';

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
  ) {}

  /** For REGISTER (401/WWW-Authenticate). `username` is the account the request claims to be. */
  asRegistrar(tx: ServerTransaction, username: string): Promise<Authenticated | undefined> {
    return this.authenticate(tx, username, REGISTRAR);
  }

  /** For requests a proxy authenticates (INVITE and the like: 407/Proxy-Authenticate). */
  asProxy(tx: ServerTransaction, username: string): Promise<Authenticated | undefined> {
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

  private async authenticate(tx: ServerTransaction, username: string, f: Flavour): Promise<Authenticated | undefined> {
    const ip = tx.source.address;
    const creds = this.pickCredentials(tx.request.headers[f.request] as AuthParams[] | undefined);
    // Looked up whether or not credentials came, so both paths cost the same.
    const account = await this.accounts.byUsername(creds?.username ?? username);
    const offered = this.algorithmsFor(account);
    if (!creds) {
      tx.respond(f.status, undefined, { [f.challenge]: this.digest.challenge(offered, ip) });
      return undefined;
    }
    if (creds.username !== username || this.guard.isPairBlocked(creds.username, ip)) {
      this.refuse(tx, creds.username, ip, 'identity-mismatch-or-blocked');
      return undefined;
    }
    const usable = account && account.enabled ? account : null;
    const ha1 = usable ? (creds.algorithm === 'SHA-256' ? usable.ha1Sha256 : usable.ha1Md5) : null;
    const verdict = this.digest.verify(creds, tx.request.method, ip, offered, ha1);
    if (verdict.ok) {
      this.guard.recordSuccess(creds.username, ip);
      return { account: usable!, algorithm: verdict.algorithm };
    }
    if (verdict.why === 'stale' || verdict.why === 'replay' || verdict.why === 'bad-nonce') {
      // A nonce problem says nothing about the password: challenge afresh.
      tx.respond(f.status, undefined, { [f.challenge]: this.digest.challenge(offered, ip, verdict.why !== 'bad-nonce') });
      return undefined;
    }
    this.refuse(tx, creds.username, ip, verdict.why);
    return undefined;
  }

  private refuse(tx: ServerTransaction, username: string, ip: string, why: string): void {
    const outcome = this.guard.recordFailure(username, ip);
    this.log.info({ username, ip, why, outcome, method: tx.request.method }, 'SIP authentication failed');
    tx.respond(403, 'Forbidden');
  }
}
