/**
 * Short-lived passwords for the portal's softphone (issue 18): a portal user who is signed in may
 * use one of the tenant's SIP accounts from the browser without knowing its password (only its
 * HA1 is stored). The API hands out a random password good for a few minutes; this table keeps
 * only its digest equivalents (HA1 for MD5 and SHA-256, as for an account), with the tenant and the
 * account it was made for, and authenticate.ts tries them beside the account's own.
 *
 * Held in memory on the node that issued it: the browser registers over a WebSocket to the same
 * portal, so the same node. Nothing is written anywhere; a restart forgets them (the page asks for
 * a new one when registering fails).
 */
import { computeHa1 } from './digest.ts';
import { randomToken } from './random.ts';

export interface BrowserSession {
  tenantId: string;
  accountId: string;
  username: string;
  ha1Md5: string;
  ha1Sha256: string;
  expiresAt: number;
}

/** At most this many live passwords per account (a page that asks again and again cannot grow the table). */
const PER_ACCOUNT = 8;

export class BrowserSessions {
  private readonly byUser = new Map<string, BrowserSession[]>();

  constructor(
    private readonly realm: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new password for the account, good for `ttlMs`; only its digests are kept. */
  issue(a: { tenantId: string; accountId: string; username: string }, ttlMs: number): { password: string; expiresAt: number } {
    const password = randomToken(24);
    const expiresAt = this.now() + ttlMs;
    const live = this.live(a.username).slice(-(PER_ACCOUNT - 1));
    live.push({
      ...a,
      ha1Md5: computeHa1('MD5', a.username, this.realm, password),
      ha1Sha256: computeHa1('SHA-256', a.username, this.realm, password),
      expiresAt,
    });
    this.byUser.set(a.username, live);
    return { password, expiresAt };
  }

  /** The HA1s of unexpired passwords issued for this very account (tenant and id must match). */
  ha1s(account: { tenantId: string; id: string; username: string }, algorithm: 'MD5' | 'SHA-256'): string[] {
    return this.live(account.username)
      .filter((s) => s.tenantId === account.tenantId && s.accountId === account.id)
      .map((s) => (algorithm === 'SHA-256' ? s.ha1Sha256 : s.ha1Md5));
  }

  /** Forgets every password of the account (it was disabled, deleted or its password changed). */
  revoke(username: string): void {
    this.byUser.delete(username);
  }

  private live(username: string): BrowserSession[] {
    const now = this.now();
    const list = (this.byUser.get(username) ?? []).filter((s) => s.expiresAt > now);
    if (list.length) this.byUser.set(username, list);
    else this.byUser.delete(username);
    return list;
  }
}
