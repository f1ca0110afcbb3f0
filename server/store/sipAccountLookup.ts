import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';
import { toSipAccount, type SipAccount } from './sipAccounts.ts';

/**
 * Finds an account by its switch-wide username, for SIP authentication (the tenant is not known
 * until the account is found). Cached briefly because every REGISTER and call needs it; API
 * changes on this node invalidate at once, other nodes see them within the TTL.
 */
export class SipAccountLookup {
  private readonly cache = new Map<string, { account: SipAccount | null; at: number }>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly ttlMs = 5000,
    private readonly maxEntries = 100_000,
  ) {}

  async byUsername(username: string, now = Date.now()): Promise<SipAccount | null> {
    const hit = this.cache.get(username);
    if (hit && now - hit.at < this.ttlMs) return hit.account;
    const r = await this.db.selectFrom('sip_accounts').selectAll().where('username', '=', username).executeTakeFirst();
    const account = r ? toSipAccount(r) : null;
    if (this.cache.size >= this.maxEntries) this.cache.clear();
    this.cache.set(username, { account, at: now });
    return account;
  }

  invalidate(username: string): void {
    this.cache.delete(username);
  }
}
