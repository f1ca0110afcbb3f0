import type { Kysely } from 'kysely';
import { newId, newSecret, sha256Hex } from './ids.ts';
import type { Database } from './schema.ts';

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  createdAt: number;
  lastUsedAt: number | null;
}

export class TenantApiKeys {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly tenantId: string,
  ) {}

  /** Creates a key; the secret is returned here once and only its hash is kept. */
  async create(name: string, now = Date.now()): Promise<{ key: ApiKey; secret: string }> {
    const secret = newSecret('sk');
    const key: ApiKey = { id: newId(), name, prefix: secret.slice(0, 10), createdAt: now, lastUsedAt: null };
    await this.db
      .insertInto('api_keys')
      .values({ id: key.id, tenant_id: this.tenantId, name, token_hash: sha256Hex(secret), prefix: key.prefix, created_at: now, last_used_at: null })
      .execute();
    return { key, secret };
  }

  async list(): Promise<ApiKey[]> {
    const rows = await this.db.selectFrom('api_keys').selectAll().where('tenant_id', '=', this.tenantId).orderBy('created_at').execute();
    return rows.map((r) => ({ id: r.id, name: r.name, prefix: r.prefix, createdAt: Number(r.created_at), lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at) }));
  }

  async delete(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('api_keys').where('tenant_id', '=', this.tenantId).where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
