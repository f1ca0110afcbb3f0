/**
 * Providers (SIP trunks). A tenant reaches its own through `store.tenant(id).providers`; the
 * registration agent, the dialer and incoming-call routing use the cross-tenant `ProviderDirectory`.
 * Passwords are sealed (`Sealer`: the provider subsystem's `CredentialCipher`) before they reach a
 * row and opened only for the agent and the dialer, never for the API.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely, Selectable, Updateable } from 'kysely';
import type { Sealer } from './sealer.ts';
import type { ProviderSettings, ProviderState } from '../../contract/providers.ts';
import { tenantKey, type ReadThroughCache } from './cache.ts';
import { isUniqueViolation } from './errors.ts';
import { newId } from './ids.ts';
import type { Database, ProviderStatusTable, ProvidersTable } from './schema.ts';

export interface Provider extends ProviderSettings {
  id: string;
  tenantId: string;
  /** Unique to this entry; the Contact we register carries it so incoming calls name their entry. */
  lineToken: string;
  hasPassword: boolean;
  createdAt: number;
  updatedAt: number;
}

export interface ProviderStatus {
  providerId: string;
  tenantId: string;
  state: ProviderState;
  lastStatus: number | null;
  lastReason: string | null;
  lastError: string | null;
  nextAttemptAt: number | null;
  registeredUntil: number | null;
  rttMs: number | null;
  updatedAt: number;
}

/** A password change: a new one, or null to remove it; absent leaves it as it is. */
export type NewProvider = ProviderSettings & { password?: string | null };
export type ProviderChanges = Partial<ProviderSettings> & { password?: string | null };

export class ProviderNameTakenError extends Error {
  constructor(name: string) {
    super(`a provider named ${name} already exists`);
  }
}

/** A number held by another entry: one entry, of one tenant, per number. */
export class ProviderNumberTakenError extends Error {
  constructor(readonly number: string) {
    super(`${number} is already held by another provider entry on this switch`);
  }
}

export class NoCredentialKeyError extends Error {
  constructor() {
    super('provider passwords cannot be stored: no credentials key is configured');
  }
}

type Row = Selectable<ProvidersTable>;

function toProvider(r: Row, numbers: string[]): Provider {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    name: r.name,
    host: r.host,
    port: r.port,
    transport: r.transport === 'tcp' ? 'tcp' : 'udp',
    outboundProxy: r.outbound_proxy,
    username: r.username,
    authUsername: r.auth_username,
    realm: r.realm,
    fromUser: r.from_user,
    fromHost: r.from_host,
    fromDisplay: r.from_display,
    headers: JSON.parse(r.headers) as Record<string, string>,
    register: Boolean(r.register),
    registerExpires: r.register_expires,
    contactUser: r.contact_user,
    lineToken: r.line_token,
    dialplan: r.dialplan,
    sourceAddresses: JSON.parse(r.source_addresses) as string[],
    numbers,
    enabled: Boolean(r.enabled),
    hasPassword: r.password_enc !== null,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

/** Providers with their numbers, read in one more query for the whole list. */
async function withNumbers(db: Kysely<Database>, rows: Row[]): Promise<Provider[]> {
  if (!rows.length) return [];
  const held = await db
    .selectFrom('provider_numbers')
    .select(['provider_id', 'number'])
    .where(
      'provider_id',
      'in',
      rows.map((r) => r.id),
    )
    .orderBy('number')
    .execute();
  const byProvider = new Map<string, string[]>();
  for (const h of held) byProvider.set(h.provider_id, [...(byProvider.get(h.provider_id) ?? []), h.number]);
  return rows.map((r) => toProvider(r, byProvider.get(r.id) ?? []));
}

async function oneWithNumbers(db: Kysely<Database>, row: Row | undefined): Promise<Provider | undefined> {
  return row ? (await withNumbers(db, [row]))[0] : undefined;
}

function toStatus(r: Selectable<ProviderStatusTable>): ProviderStatus {
  return {
    providerId: r.provider_id,
    tenantId: r.tenant_id,
    state: r.state as ProviderState,
    lastStatus: r.last_status,
    lastReason: r.last_reason,
    lastError: r.last_error,
    nextAttemptAt: r.next_attempt_at === null ? null : Number(r.next_attempt_at),
    registeredUntil: r.registered_until === null ? null : Number(r.registered_until),
    rttMs: r.rtt_ms,
    updatedAt: Number(r.updated_at),
  };
}

function settingsColumns(s: Partial<ProviderSettings>): Updateable<ProvidersTable> {
  const set: Updateable<ProvidersTable> = {};
  if (s.name !== undefined) set.name = s.name;
  if (s.host !== undefined) set.host = s.host;
  if (s.port !== undefined) set.port = s.port;
  if (s.transport !== undefined) set.transport = s.transport;
  if (s.outboundProxy !== undefined) set.outbound_proxy = s.outboundProxy;
  if (s.username !== undefined) set.username = s.username;
  if (s.authUsername !== undefined) set.auth_username = s.authUsername;
  if (s.realm !== undefined) set.realm = s.realm;
  if (s.fromUser !== undefined) set.from_user = s.fromUser;
  if (s.fromHost !== undefined) set.from_host = s.fromHost;
  if (s.fromDisplay !== undefined) set.from_display = s.fromDisplay;
  if (s.headers !== undefined) set.headers = JSON.stringify(s.headers);
  if (s.register !== undefined) set.register = s.register ? 1 : 0;
  if (s.registerExpires !== undefined) set.register_expires = s.registerExpires;
  if (s.contactUser !== undefined) set.contact_user = s.contactUser;
  if (s.dialplan !== undefined) set.dialplan = s.dialplan;
  if (s.sourceAddresses !== undefined) set.source_addresses = JSON.stringify(s.sourceAddresses);
  if (s.enabled !== undefined) set.enabled = s.enabled ? 1 : 0;
  return set;
}

/** One tenant's providers: every query carries the tenant id. */
export class TenantProviders {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly tenantId: string,
    private readonly cipher: Sealer | null,
  ) {}

  private seal(password: string | null | undefined, id: string): string | null | undefined {
    if (password === undefined || password === null) return password;
    if (!this.cipher) throw new NoCredentialKeyError();
    return this.cipher.seal(password, id);
  }

  async list(): Promise<Provider[]> {
    const rows = await this.db.selectFrom('providers').selectAll().where('tenant_id', '=', this.tenantId).orderBy('name').execute();
    return withNumbers(this.db, rows);
  }

  async get(id: string): Promise<Provider | undefined> {
    const r = await this.db.selectFrom('providers').selectAll().where('tenant_id', '=', this.tenantId).where('id', '=', id).executeTakeFirst();
    return oneWithNumbers(this.db, r);
  }

  /**
   * Makes `numbers` the entry's numbers, inside the caller's transaction; a number another entry
   * holds is refused. (Account names start with a letter, so a number is never one.)
   */
  private async holdNumbers(trx: Kysely<Database>, providerId: string, numbers: string[], now: number): Promise<void> {
    if (numbers.length) {
      const held = await trx.selectFrom('provider_numbers').select('number').where('number', 'in', numbers).where('provider_id', '!=', providerId).executeTakeFirst();
      if (held) throw new ProviderNumberTakenError(held.number);
    }
    await trx.deleteFrom('provider_numbers').where('provider_id', '=', providerId).execute();
    if (!numbers.length) return;
    try {
      await trx
        .insertInto('provider_numbers')
        .values(numbers.map((number) => ({ number, provider_id: providerId, tenant_id: this.tenantId, created_at: now })))
        .execute();
    } catch (err) {
      // Another tenant's save took one of them between the check and the insert.
      if (isUniqueViolation(err)) throw new ProviderNumberTakenError(numbers.join(', '));
      throw err;
    }
  }

  async create(p: NewProvider, now = Date.now()): Promise<Provider> {
    const id = newId();
    const { password, numbers, ...settings } = p;
    try {
      await this.db.transaction().execute(async (trx) => {
        await trx
          .insertInto('providers')
          .values({
            ...(settingsColumns(settings) as Required<Updateable<ProvidersTable>>),
            id,
            tenant_id: this.tenantId,
            password_enc: this.seal(password, id) ?? null,
            line_token: randomBytes(12).toString('base64url'),
            created_at: now,
            updated_at: now,
          } as ProvidersTable)
          .execute();
        await this.holdNumbers(trx, id, numbers, now);
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new ProviderNameTakenError(p.name);
      throw err;
    }
    return (await this.get(id))!;
  }

  async update(id: string, c: ProviderChanges, now = Date.now()): Promise<Provider | undefined> {
    const { password, numbers, ...settings } = c;
    const set = settingsColumns(settings);
    set.updated_at = now;
    const sealed = this.seal(password, id);
    if (sealed !== undefined) set.password_enc = sealed;
    try {
      const updated = await this.db.transaction().execute(async (trx) => {
        const r = await trx.updateTable('providers').set(set).where('tenant_id', '=', this.tenantId).where('id', '=', id).executeTakeFirst();
        if (Number(r.numUpdatedRows) === 0) return false;
        if (numbers !== undefined) await this.holdNumbers(trx, id, numbers, now);
        return true;
      });
      if (!updated) return undefined;
    } catch (err) {
      if (isUniqueViolation(err) && settings.name) throw new ProviderNameTakenError(settings.name);
      throw err;
    }
    return this.get(id);
  }

  async delete(id: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('provider_status').where('tenant_id', '=', this.tenantId).where('provider_id', '=', id).execute();
      await trx.deleteFrom('provider_numbers').where('tenant_id', '=', this.tenantId).where('provider_id', '=', id).execute();
      const r = await trx.deleteFrom('providers').where('tenant_id', '=', this.tenantId).where('id', '=', id).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    });
  }

  async statuses(): Promise<Map<string, ProviderStatus>> {
    const rows = await this.db.selectFrom('provider_status').selectAll().where('tenant_id', '=', this.tenantId).execute();
    return new Map(rows.map((r) => [r.provider_id, toStatus(r)]));
  }
}

/** The caches the directory reads through (see cache.ts: TTL, stale-if-error during an outage). */
export interface ProviderCaches {
  byLine: ReadThroughCache<Provider | null>;
  byName: ReadThroughCache<Provider | null>;
  byNumber: ReadThroughCache<Provider | null>;
  withSources: ReadThroughCache<Provider[]>;
  /** Sealed passwords by provider id (opened per use, never kept open). */
  sealed: ReadThroughCache<string | null>;
}

/**
 * Cross-tenant access for the registration agent, the dialer and incoming-call routing. What calls
 * read is cached per node for a few seconds and served last known while the database is
 * unreachable; changes made on this node invalidate at once.
 */
export class ProviderDirectory {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly cipher: Sealer | null,
    private readonly caches: ProviderCaches,
  ) {}

  invalidate(): void {
    this.caches.byLine.clear();
    this.caches.byName.clear();
    this.caches.byNumber.clear();
    this.caches.withSources.clear();
    this.caches.sealed.clear();
  }

  async all(): Promise<Provider[]> {
    return withNumbers(this.db, await this.db.selectFrom('providers').selectAll().execute());
  }

  async byId(id: string): Promise<Provider | undefined> {
    return oneWithNumbers(this.db, await this.db.selectFrom('providers').selectAll().where('id', '=', id).executeTakeFirst());
  }

  /** The provider entry an incoming request names by the `line` parameter of our Contact. */
  byLineToken(token: string): Promise<Provider | null> {
    return this.caches.byLine.get(token, async () => {
      const r = await this.db.selectFrom('providers').selectAll().where('line_token', '=', token).executeTakeFirst();
      return (await oneWithNumbers(this.db, r)) ?? null;
    });
  }

  /** What `dial('123@name')` refers to, within one tenant. */
  byTenantName(tenantId: string, name: string): Promise<Provider | null> {
    const lower = name.toLowerCase();
    return this.caches.byName.get(tenantKey(tenantId, lower), async () => {
      const r = await this.db.selectFrom('providers').selectAll().where('tenant_id', '=', tenantId).where('name', '=', lower).executeTakeFirst();
      return (await oneWithNumbers(this.db, r)) ?? null;
    });
  }

  /** The entry holding `number` (digits only), enabled or not; numbers are unique on the switch. */
  byNumber(number: string): Promise<Provider | null> {
    return this.caches.byNumber.get(number, async () => {
      const held = await this.db.selectFrom('provider_numbers').select('provider_id').where('number', '=', number).executeTakeFirst();
      return held ? ((await this.byId(held.provider_id)) ?? null) : null;
    });
  }

  /** Enabled providers that list source addresses, for recognising calls that carry no line token. */
  withSourceAddresses(): Promise<Provider[]> {
    return this.caches.withSources.get('', async () => {
      const rows = await this.db.selectFrom('providers').selectAll().where('enabled', '=', 1).where('source_addresses', '!=', '[]').execute();
      return withNumbers(this.db, rows);
    });
  }

  /** The stored password, opened; only the agent and the dialer ask. */
  async password(p: Provider): Promise<string | null> {
    if (!p.hasPassword) return null;
    if (!this.cipher) throw new NoCredentialKeyError();
    const sealed = await this.caches.sealed.get(p.id, async () => {
      const r = await this.db.selectFrom('providers').select('password_enc').where('id', '=', p.id).executeTakeFirst();
      return r?.password_enc ?? null;
    });
    return sealed ? this.cipher.open(sealed, p.id) : null;
  }

  async writeStatus(s: ProviderStatus): Promise<void> {
    const values = {
      tenant_id: s.tenantId,
      state: s.state,
      last_status: s.lastStatus,
      last_reason: s.lastReason?.slice(0, 255) ?? null,
      last_error: s.lastError?.slice(0, 512) ?? null,
      next_attempt_at: s.nextAttemptAt,
      registered_until: s.registeredUntil,
      rtt_ms: s.rttMs,
      updated_at: s.updatedAt,
    };
    // Upsert without dialect-specific syntax: the provider may have been deleted meanwhile.
    const r = await this.db.updateTable('provider_status').set(values).where('provider_id', '=', s.providerId).executeTakeFirst();
    if (Number(r.numUpdatedRows) > 0) return;
    const exists = await this.db.selectFrom('providers').select('id').where('id', '=', s.providerId).executeTakeFirst();
    if (!exists) return;
    try {
      await this.db
        .insertInto('provider_status')
        .values({ provider_id: s.providerId, ...values })
        .execute();
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await this.db.updateTable('provider_status').set(values).where('provider_id', '=', s.providerId).execute();
    }
  }

  async status(providerId: string): Promise<ProviderStatus | undefined> {
    const r = await this.db.selectFrom('provider_status').selectAll().where('provider_id', '=', providerId).executeTakeFirst();
    return r && toStatus(r);
  }
}
