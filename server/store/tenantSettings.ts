import type { Kysely, Updateable } from 'kysely';
import type { ReadThroughCache } from './cache.ts';
import type { Database, TenantsTable } from './schema.ts';

export interface Tenant {
  id: string;
  name: string;
  timeZone: string;
  /** Home country (ISO 3166-1 alpha-2) provider legs' numbers are read in; null until set. */
  country: string | null;
  /** Whether provider legs may call numbers outside the home country (toll-fraud guard). */
  internationalCalls: boolean;
  createdAt: number;
}

export type TenantChanges = Partial<Pick<Tenant, 'name' | 'timeZone' | 'country' | 'internationalCalls'>>;

/**
 * A tenant's own settings. Calls read them through a per-node cache (`getCached`) that this node's
 * updates invalidate; the API reads the database (`get`).
 */
export class TenantSettings {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly tenantId: string,
    private readonly cache: ReadThroughCache<Tenant | undefined>,
  ) {}

  async get(): Promise<Tenant | undefined> {
    const r = await this.db.selectFrom('tenants').selectAll().where('id', '=', this.tenantId).executeTakeFirst();
    return (
      r && {
        id: r.id,
        name: r.name,
        timeZone: r.time_zone,
        country: r.country,
        internationalCalls: Boolean(r.international_calls),
        createdAt: Number(r.created_at),
      }
    );
  }

  /** For calls: cached, and served last known while the database is unreachable (cache.ts). */
  getCached(): Promise<Tenant | undefined> {
    return this.cache.get(this.tenantId, () => this.get());
  }

  async update(changes: TenantChanges): Promise<Tenant | undefined> {
    const set: Updateable<TenantsTable> = {};
    if (changes.name !== undefined) set.name = changes.name;
    if (changes.timeZone !== undefined) set.time_zone = changes.timeZone;
    if (changes.country !== undefined) set.country = changes.country;
    if (changes.internationalCalls !== undefined) set.international_calls = changes.internationalCalls ? 1 : 0;
    if (Object.keys(set).length) await this.db.updateTable('tenants').set(set).where('id', '=', this.tenantId).execute();
    this.cache.invalidate(this.tenantId);
    return this.get();
  }
}
