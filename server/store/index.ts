/**
 * The data layer. Tenant data is reached only through `store.tenant(id)`, whose every query is
 * scoped by that tenant id; the few cross-tenant lookups (login, SIP authentication, the location
 * service) are named for what they are for.
 */
import type { Kysely } from 'kysely';
import { pino, type Logger } from 'pino';
import type { Registry } from 'prom-client';
import { AccountDirectory } from './accounts.ts';
import { createCacheMetrics, ReadThroughCache } from './cache.ts';
import { migrateToLatest, openDatabase, type Db, type DialectName } from './db.ts';
import type { LocationJournal } from './locationJournal.ts';
import { NodeDirectory } from './nodes.ts';
import { LocationOverlay } from './locationOverlay.ts';
import { SqlLocationStore, type Binding } from './registrations.ts';
import { LiveCallStore } from './liveCalls.ts';
import { TenantRegistrations } from './registrations.ts';
import type { Database } from './schema.ts';
import { TenantApiKeys } from './apiKeys.ts';
import { LocalSnapshot } from './localSnapshot.ts';
import { SipAccountLookup } from './sipAccountLookup.ts';
import { TenantSipAccounts } from './sipAccounts.ts';
import { TenantSettings, type Tenant } from './tenantSettings.ts';
import { TenantDialplans, type CurrentDialplan } from './dialplans.ts';
import { TenantKv } from './kv.ts';
import { CdrArchive, TenantCdrs } from './cdrs.ts';
import { CallTraceArchive, TenantCallTraces } from './callTraces.ts';
import { ProviderDirectory, TenantProviders, type ProviderCaches } from './providers.ts';
import type { Sealer } from './sealer.ts';
import type { SipAccount } from './sipAccounts.ts';
import { TenantPrompts } from './prompts.ts';
import { RecordingArchive, TenantRecordings } from './recordings.ts';

export interface TenantScope {
  readonly tenantId: string;
  readonly settings: TenantSettings;
  readonly sipAccounts: TenantSipAccounts;
  readonly registrations: TenantRegistrations;
  readonly apiKeys: TenantApiKeys;
  readonly dialplans: TenantDialplans;
  readonly kv: TenantKv;
  readonly cdrs: TenantCdrs;
  readonly callTraces: TenantCallTraces;
  readonly providers: TenantProviders;
  readonly prompts: TenantPrompts;
  readonly recordings: TenantRecordings;
}

export interface StoreOptions {
  /** Seals provider passwords; without one, providers cannot be given a password. */
  cipher?: Sealer;
  /** Where the caches and the location overlay say when the database is unreachable; silent without. */
  log?: Logger;
  /** Where their metrics go; none without. */
  registry?: Registry;
  /** Keeps registration changes made during a database outage across restarts; memory only without. */
  locationJournal?: LocationJournal;
  /**
   * Where this node keeps its sealed local snapshot (localSnapshot.ts), read during a database
   * outage for accounts it has not cached; needs `cipher`. None without.
   */
  localSnapshot?: { dir: string; nodeId: string };
}

/**
 * The per-node caches of what calls and REGISTERs read (see README.md, "Caches and database
 * outages"). TTLs are short because other nodes' changes show only when an entry expires.
 */
const CACHES = {
  accounts: { ttlMs: 5000, maxEntries: 100_000 },
  dialplans: { ttlMs: 5000, maxEntries: 20_000, maxWeight: 64 * 1024 * 1024 },
  settings: { ttlMs: 5000, maxEntries: 20_000 },
  /** TTL 0: bindings are read afresh every time; the last rows read serve only during an outage. */
  bindings: { ttlMs: 0, maxEntries: 100_000 },
  providers: { ttlMs: 5000, maxEntries: 10_000 },
};
/** How old a cached value may be when served because the database cannot be reached. */
const MAX_STALE_MS = 10 * 60_000;

interface Caches {
  accounts: ReadThroughCache<SipAccount | null>;
  dialplans: ReadThroughCache<CurrentDialplan | undefined>;
  settings: ReadThroughCache<Tenant | undefined>;
  bindings: ReadThroughCache<Binding[]>;
  providers: ProviderCaches;
}

function createCaches(log: Logger, registry: Registry | undefined): Caches {
  const metrics = registry && createCacheMetrics(registry);
  const common = { log, maxStaleMs: MAX_STALE_MS, ...(metrics ? { metrics } : {}) };
  return {
    accounts: new ReadThroughCache({ name: 'accounts', ...CACHES.accounts, ...common }),
    dialplans: new ReadThroughCache({ name: 'dialplans', ...CACHES.dialplans, weigh: (d) => (d ? d.source.length : 0), ...common }),
    settings: new ReadThroughCache({ name: 'tenant-settings', ...CACHES.settings, ...common }),
    bindings: new ReadThroughCache({ name: 'bindings', ...CACHES.bindings, ...common }),
    providers: {
      byLine: new ReadThroughCache({ name: 'providers-by-line', ...CACHES.providers, ...common }),
      byName: new ReadThroughCache({ name: 'providers-by-name', ...CACHES.providers, ...common }),
      byNumber: new ReadThroughCache({ name: 'providers-by-number', ...CACHES.providers, ...common }),
      withSources: new ReadThroughCache({ name: 'providers-by-source', ...CACHES.providers, ...common }),
      sealed: new ReadThroughCache({ name: 'provider-secrets', ...CACHES.providers, ...common }),
    },
  };
}

export class Store {
  readonly directory: AccountDirectory;
  readonly sipAccountLookup: SipAccountLookup;
  /** What this node serves from its own disk while the database is unreachable; undefined without a cipher and a place for it. */
  readonly localSnapshot: LocalSnapshot | undefined;
  /** The registrar's and the dialer's bindings, kept working while the database is unreachable. */
  readonly location: LocationOverlay;
  readonly liveCalls: LiveCallStore;
  /** Cross-tenant: the nodes of a cluster on this database, their heartbeats and takeovers. */
  readonly nodes: NodeDirectory;
  /** Cross-tenant: the CDR writer's inserts and the retention purge. */
  readonly cdrs: CdrArchive;
  /** Cross-tenant: the call trace recorder's writes. */
  readonly callTraces: CallTraceArchive;
  /** Cross-tenant: the registration agent, the dialer and incoming-call routing. */
  readonly providers: ProviderDirectory;
  /** Cross-tenant: the recordings' retention purge. */
  readonly recordings: RecordingArchive;
  readonly kysely: Kysely<Database>;

  private readonly caches: Caches;

  private constructor(
    private readonly db: Db,
    private readonly cipher: Sealer | null,
    log: Logger,
    registry: Registry | undefined,
    locationJournal: LocationJournal | undefined,
    snapshotPlace: StoreOptions['localSnapshot'],
  ) {
    this.kysely = db.kysely;
    this.caches = createCaches(log, registry);
    this.directory = new AccountDirectory(db.kysely);
    this.localSnapshot =
      cipher && snapshotPlace
        ? new LocalSnapshot({ ...snapshotPlace, cipher, log, ...(registry ? { registry } : {}), read: async () => ({ sipAccounts: await this.sipAccountLookup.all() }) })
        : undefined;
    this.sipAccountLookup = new SipAccountLookup(db.kysely, this.caches.accounts, this.localSnapshot);
    this.location = new LocationOverlay(new SqlLocationStore(db.kysely), {
      lastKnown: this.caches.bindings,
      log,
      ...(registry ? { registry } : {}),
      ...(locationJournal ? { journal: locationJournal } : {}),
    });
    this.liveCalls = new LiveCallStore(db.kysely);
    this.nodes = new NodeDirectory(db.kysely);
    this.cdrs = new CdrArchive(db.kysely);
    this.callTraces = new CallTraceArchive(db.kysely);
    this.providers = new ProviderDirectory(db.kysely, cipher, this.caches.providers);
    this.recordings = new RecordingArchive(db.kysely);
  }

  static async open(url: string, options: StoreOptions = {}): Promise<Store> {
    const db = openDatabase(url);
    try {
      await migrateToLatest(db);
    } catch (err) {
      await db.close();
      throw err;
    }
    return new Store(db, options.cipher ?? null, options.log ?? pino({ level: 'silent' }), options.registry, options.locationJournal, options.localSnapshot);
  }

  get dialect(): DialectName {
    return this.db.dialect;
  }

  tenant(tenantId: string): TenantScope {
    const k = this.db.kysely;
    return {
      tenantId,
      settings: new TenantSettings(k, tenantId, this.caches.settings),
      sipAccounts: new TenantSipAccounts(k, tenantId),
      registrations: new TenantRegistrations(k, tenantId),
      apiKeys: new TenantApiKeys(k, tenantId),
      dialplans: new TenantDialplans(k, tenantId, this.caches.dialplans),
      kv: new TenantKv(k, tenantId),
      cdrs: new TenantCdrs(k, tenantId),
      callTraces: new TenantCallTraces(k, tenantId),
      providers: new TenantProviders(k, tenantId, this.cipher),
      prompts: new TenantPrompts(k, tenantId),
      recordings: new TenantRecordings(k, tenantId),
    };
  }

  async ping(): Promise<void> {
    await this.db.kysely.selectFrom('tenants').select('id').limit(1).execute();
  }

  /** Writes what registrations still wait in memory (briefly, if the database answers), then closes. */
  async close(): Promise<void> {
    await this.localSnapshot?.stop();
    await this.location.stop();
    await this.db.close();
  }
}
