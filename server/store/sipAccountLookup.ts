import type { Kysely } from 'kysely';
import { withDeadline, type ReadThroughCache } from './cache.ts';
import { isDatabaseUnreachable } from './errors.ts';
import type { LocalSnapshot } from './localSnapshot.ts';
import type { Database } from './schema.ts';
import { toSipAccount, type SipAccount } from './sipAccounts.ts';

/**
 * The database cannot be reached and neither the cache nor the local snapshot knows the account:
 * the request cannot be verified now (SIP answers 503 with Retry-After), which says nothing about
 * whether the account exists.
 */
export class AccountUnverifiableError extends Error {
  readonly code = 'ACCOUNT_UNVERIFIABLE';
  constructor(
    readonly username: string,
    cause: unknown,
  ) {
    super(`cannot verify SIP account ${username}: the database is unreachable and this node holds no copy of it`, { cause });
  }
}

/** Rows per read when the whole table is copied into the local snapshot. */
const SNAPSHOT_PAGE = 5000;
/**
 * With a snapshot to fall back on, a read the database has not answered by then counts as an
 * outage (longer than the cache's own deadline, which serves a cached value first).
 */
const LOOKUP_DEADLINE_MS = 3000;

/**
 * Finds an account by its switch-wide username, for SIP authentication (the tenant is not known
 * until the account is found). Cached because every REGISTER and call needs it (usernames are
 * unique on the switch, so the username alone is the key; the account carries its tenant, which
 * callers check). API changes on this node invalidate at once, other nodes see them within the
 * cache's TTL; while the database is unreachable the last known account is served (cache.ts), else
 * the account as of the node's local snapshot (localSnapshot.ts), else AccountUnverifiableError.
 */
export class SipAccountLookup {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly cache: ReadThroughCache<SipAccount | null>,
    private readonly snapshot?: LocalSnapshot,
  ) {}

  async byUsername(username: string): Promise<SipAccount | null> {
    const read = this.cache.get(username, async () => {
      const r = await this.db.selectFrom('sip_accounts').selectAll().where('username', '=', username).executeTakeFirst();
      return r ? toSipAccount(r) : null;
    });
    if (!this.snapshot) return read;
    try {
      return await withDeadline(read, LOOKUP_DEADLINE_MS, 'SIP account lookup');
    } catch (err) {
      if (!isDatabaseUnreachable(err)) throw err;
      const copy = await this.snapshot.account(username);
      if (copy) return copy;
      throw new AccountUnverifiableError(username, err);
    }
  }

  /** This node changed the account: drop its cached value, and bring the local snapshot up to date soon. */
  invalidate(username: string): void {
    this.cache.invalidate(username);
    this.snapshot?.refreshSoon();
  }

  /** Every account on the switch, for the local snapshot (read in pages, in id order). */
  async all(): Promise<SipAccount[]> {
    const accounts: SipAccount[] = [];
    for (let after = ''; ;) {
      const page = await this.db.selectFrom('sip_accounts').selectAll().where('id', '>', after).orderBy('id').limit(SNAPSHOT_PAGE).execute();
      accounts.push(...page.map(toSipAccount));
      if (page.length < SNAPSHOT_PAGE) return accounts;
      after = page[page.length - 1]!.id;
    }
  }
}
