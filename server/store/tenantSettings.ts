import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

export interface Tenant {
  id: string;
  name: string;
  timeZone: string;
  createdAt: number;
}

export class TenantSettings {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly tenantId: string,
  ) {}

  async get(): Promise<Tenant | undefined> {
    const r = await this.db.selectFrom('tenants').selectAll().where('id', '=', this.tenantId).executeTakeFirst();
    return r && { id: r.id, name: r.name, timeZone: r.time_zone, createdAt: Number(r.created_at) };
  }

  async update(changes: { name?: string; timeZone?: string }): Promise<Tenant | undefined> {
    const set: { name?: string; time_zone?: string } = {};
    if (changes.name !== undefined) set.name = changes.name;
    if (changes.timeZone !== undefined) set.time_zone = changes.timeZone;
    if (Object.keys(set).length) await this.db.updateTable('tenants').set(set).where('id', '=', this.tenantId).execute();
    return this.get();
  }
}
