import type { Kysely } from 'kysely';
import type { ReadThroughCache } from './cache.ts';
import type { Database } from './schema.ts';
import { toSipAccount, type SipAccount } from './sipAccounts.ts';

/**
 * Finds an account by its switch-wide username, for SIP authentication (the tenant is not known
 * until the account is found). Cached because every REGISTER and call needs it (usernames are
 * unique on the switch, so the username alone is the key; the account carries its tenant, which
 * callers check). API changes on this node invalidate at once, other nodes see them within the
 * cache's TTL; while the database is unreachable the last known account is served (cache.ts).
 */
export class SipAccountLookup {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly cache: ReadThroughCache<SipAccount | null>,
  ) {}

  byUsername(username: string): Promise<SipAccount | null> {
    return this.cache.get(username, async () => {
      const r = await this.db.selectFrom('sip_accounts').selectAll().where('username', '=', username).executeTakeFirst();
      return r ? toSipAccount(r) : null;
    });
  }

  invalidate(username: string): void {
    this.cache.invalidate(username);
  }
}
