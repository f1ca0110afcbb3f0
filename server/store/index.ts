/**
 * The data layer. Tenant data is reached only through `store.tenant(id)`, whose every query is
 * scoped by that tenant id; the few cross-tenant lookups (login, SIP authentication, the location
 * service) are named for what they are for.
 */
import type { Kysely } from 'kysely';
import { AccountDirectory } from './accounts.ts';
import { migrateToLatest, openDatabase, type Db, type DialectName } from './db.ts';
import { SqlLocationStore } from './registrations.ts';
import { LiveCallStore } from './liveCalls.ts';
import { TenantRegistrations } from './registrations.ts';
import type { Database } from './schema.ts';
import { TenantApiKeys } from './apiKeys.ts';
import { SipAccountLookup } from './sipAccountLookup.ts';
import { TenantSipAccounts } from './sipAccounts.ts';
import { TenantSettings } from './tenantSettings.ts';
import { TenantDialplans } from './dialplans.ts';
import { TenantKv } from './kv.ts';
import { CdrArchive, TenantCdrs } from './cdrs.ts';
import { ProviderDirectory, TenantProviders } from './providers.ts';
import type { CredentialCipher } from '../providers/credentials.ts';

export interface TenantScope {
  readonly tenantId: string;
  readonly settings: TenantSettings;
  readonly sipAccounts: TenantSipAccounts;
  readonly registrations: TenantRegistrations;
  readonly apiKeys: TenantApiKeys;
  readonly dialplans: TenantDialplans;
  readonly kv: TenantKv;
  readonly cdrs: TenantCdrs;
  readonly providers: TenantProviders;
}

export interface StoreOptions {
  /** Seals provider passwords; without one, providers cannot be given a password. */
  cipher?: CredentialCipher;
}

export class Store {
  readonly directory: AccountDirectory;
  readonly sipAccountLookup: SipAccountLookup;
  readonly location: SqlLocationStore;
  readonly liveCalls: LiveCallStore;
  /** Cross-tenant: the CDR writer's inserts and the retention purge. */
  readonly cdrs: CdrArchive;
  /** Cross-tenant: the registration agent, the dialer and incoming-call routing. */
  readonly providers: ProviderDirectory;
  readonly kysely: Kysely<Database>;

  private constructor(
    private readonly db: Db,
    private readonly cipher: CredentialCipher | null,
  ) {
    this.kysely = db.kysely;
    this.directory = new AccountDirectory(db.kysely);
    this.sipAccountLookup = new SipAccountLookup(db.kysely);
    this.location = new SqlLocationStore(db.kysely);
    this.liveCalls = new LiveCallStore(db.kysely);
    this.cdrs = new CdrArchive(db.kysely);
    this.providers = new ProviderDirectory(db.kysely, cipher);
  }

  static async open(url: string, options: StoreOptions = {}): Promise<Store> {
    const db = openDatabase(url);
    try {
      await migrateToLatest(db);
    } catch (err) {
      await db.close();
      throw err;
    }
    return new Store(db, options.cipher ?? null);
  }

  get dialect(): DialectName {
    return this.db.dialect;
  }

  tenant(tenantId: string): TenantScope {
    const k = this.db.kysely;
    return {
      tenantId,
      settings: new TenantSettings(k, tenantId),
      sipAccounts: new TenantSipAccounts(k, tenantId),
      registrations: new TenantRegistrations(k, tenantId),
      apiKeys: new TenantApiKeys(k, tenantId),
      dialplans: new TenantDialplans(k, tenantId),
      kv: new TenantKv(k, tenantId),
      cdrs: new TenantCdrs(k, tenantId),
      providers: new TenantProviders(k, tenantId, this.cipher),
    };
  }

  async ping(): Promise<void> {
    await this.db.kysely.selectFrom('tenants').select('id').limit(1).execute();
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
