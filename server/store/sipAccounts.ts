import type { Kysely, Selectable, Updateable } from 'kysely';
import type { DigestAlgorithm } from '../../contract/sipAccounts.ts';
import { isUniqueViolation } from './errors.ts';
import { newId } from './ids.ts';
import type { Database, SipAccountsTable } from './schema.ts';

export interface SipAccount {
  id: string;
  tenantId: string;
  username: string;
  displayName: string | null;
  realm: string;
  ha1Md5: string;
  ha1Sha256: string;
  /** Algorithms offered to this account in order; null means the switch default. */
  digestAlgorithms: DigestAlgorithm[] | null;
  enabled: boolean;
  /** Dialplan for calls this account's phone places; null = the tenant's `default`. */
  dialplanOut: string | null;
  /** Dialplan for calls to this account; null = ring its phones. */
  dialplanIn: string | null;
  /** The short number colleagues dial (digits, unique within the tenant); null = none. */
  extension: string | null;
  createdAt: number;
  updatedAt: number;
}

/** An account to create: what a SipAccount holds but its ids, flags and times; dialplans optional. */
export type NewSipAccount = Pick<SipAccount, 'username' | 'displayName' | 'realm' | 'ha1Md5' | 'ha1Sha256' | 'digestAlgorithms'> &
  Partial<Pick<SipAccount, 'dialplanOut' | 'dialplanIn' | 'extension'>>;

export type SipAccountChanges = Partial<
  Pick<SipAccount, 'displayName' | 'realm' | 'ha1Md5' | 'ha1Sha256' | 'digestAlgorithms' | 'enabled' | 'dialplanOut' | 'dialplanIn' | 'extension'>
>;

export class UsernameTakenError extends Error {
  constructor(username: string) {
    super(`username ${username} is taken`);
  }
}

export class ExtensionTakenError extends Error {
  constructor(extension: string) {
    super(`extension ${extension} is taken`);
  }
}

/** The first extension handed out; phones get the next free one from here. */
export const FIRST_EXTENSION = 100;

/** Both dialects name the violated index or its columns: the extension's, or else the username's. */
function takenError(err: unknown, a: { username?: string; extension?: string | null }): Error {
  return /extension/i.test((err as Error).message) && a.extension ? new ExtensionTakenError(a.extension) : new UsernameTakenError(a.username ?? '');
}

export function toSipAccount(r: Selectable<SipAccountsTable>): SipAccount {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    username: r.username,
    displayName: r.display_name,
    realm: r.realm,
    ha1Md5: r.ha1_md5,
    ha1Sha256: r.ha1_sha256,
    digestAlgorithms: r.digest_algorithms ? (r.digest_algorithms.split(',') as DigestAlgorithm[]) : null,
    enabled: Boolean(r.enabled),
    dialplanOut: r.dialplan_out,
    dialplanIn: r.dialplan_in,
    extension: r.extension ?? null,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

/** One tenant's SIP accounts: every query carries the tenant id. */
export class TenantSipAccounts {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly tenantId: string,
  ) {}

  async list(): Promise<SipAccount[]> {
    const rows = await this.db.selectFrom('sip_accounts').selectAll().where('tenant_id', '=', this.tenantId).orderBy('created_at').orderBy('id').execute();
    return rows.map(toSipAccount);
  }

  async get(id: string): Promise<SipAccount | undefined> {
    const r = await this.db.selectFrom('sip_accounts').selectAll().where('tenant_id', '=', this.tenantId).where('id', '=', id).executeTakeFirst();
    return r && toSipAccount(r);
  }

  /** The tenant's phone dialled as `extension`, if any. */
  async byExtension(extension: string): Promise<SipAccount | undefined> {
    const r = await this.db.selectFrom('sip_accounts').selectAll().where('tenant_id', '=', this.tenantId).where('extension', '=', extension).executeTakeFirst();
    return r && toSipAccount(r);
  }

  /** The lowest number from FIRST_EXTENSION up that none of the tenant's phones carries. */
  async nextFreeExtension(): Promise<string> {
    const rows = await this.db.selectFrom('sip_accounts').select('extension').where('tenant_id', '=', this.tenantId).where('extension', 'is not', null).execute();
    const taken = new Set(rows.map((r) => r.extension));
    let n = FIRST_EXTENSION;
    while (taken.has(String(n))) n++;
    return String(n);
  }

  async create(a: NewSipAccount, now = Date.now()): Promise<SipAccount> {
    const id = newId();
    try {
      await this.db
        .insertInto('sip_accounts')
        .values({
          id,
          tenant_id: this.tenantId,
          username: a.username,
          display_name: a.displayName,
          realm: a.realm,
          ha1_md5: a.ha1Md5,
          ha1_sha256: a.ha1Sha256,
          digest_algorithms: a.digestAlgorithms?.join(',') ?? null,
          enabled: 1,
          dialplan_out: a.dialplanOut ?? null,
          dialplan_in: a.dialplanIn ?? null,
          extension: a.extension ?? null,
          created_at: now,
          updated_at: now,
        })
        .execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw takenError(err, a);
      throw err;
    }
    return (await this.get(id))!;
  }

  async update(id: string, c: SipAccountChanges, now = Date.now()): Promise<SipAccount | undefined> {
    const set: Updateable<SipAccountsTable> = { updated_at: now };
    if (c.displayName !== undefined) set.display_name = c.displayName;
    if (c.realm !== undefined) set.realm = c.realm;
    if (c.ha1Md5 !== undefined) set.ha1_md5 = c.ha1Md5;
    if (c.ha1Sha256 !== undefined) set.ha1_sha256 = c.ha1Sha256;
    if (c.digestAlgorithms !== undefined) set.digest_algorithms = c.digestAlgorithms?.join(',') ?? null;
    if (c.enabled !== undefined) set.enabled = c.enabled ? 1 : 0;
    if (c.dialplanOut !== undefined) set.dialplan_out = c.dialplanOut;
    if (c.dialplanIn !== undefined) set.dialplan_in = c.dialplanIn;
    if (c.extension !== undefined) set.extension = c.extension;
    let r;
    try {
      r = await this.db.updateTable('sip_accounts').set(set).where('tenant_id', '=', this.tenantId).where('id', '=', id).executeTakeFirst();
    } catch (err) {
      if (isUniqueViolation(err)) throw takenError(err, c);
      throw err;
    }
    if (Number(r.numUpdatedRows) === 0) return undefined;
    return this.get(id);
  }

  /** Deletes the account and its bindings; false when it is not this tenant's. */
  async delete(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('registrations').where('tenant_id', '=', this.tenantId).where('account_id', '=', id).execute();
      const r = await trx.deleteFrom('sip_accounts').where('tenant_id', '=', this.tenantId).where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }
}
