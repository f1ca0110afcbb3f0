import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export class KvQuotaError extends Error {}

export interface KvLimits {
  maxKeys: number;
  maxValueBytes: number;
}

export const DEFAULT_KV_LIMITS: KvLimits = { maxKeys: 10_000, maxValueBytes: 16_384 };

/** A tenant's key/value store, the `store` of its dialplans. Values are JSON. */
export class TenantKv {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly tenantId: string,
    private readonly limits: KvLimits = DEFAULT_KV_LIMITS,
  ) {}

  async get(key: string): Promise<JsonValue | undefined> {
    const r = await this.db.selectFrom('kv').select('v').where('tenant_id', '=', this.tenantId).where('k', '=', key).executeTakeFirst();
    return r ? (JSON.parse(r.v) as JsonValue) : undefined;
  }

  async set(key: string, value: JsonValue, now = Date.now()): Promise<void> {
    const v = JSON.stringify(value);
    if (Buffer.byteLength(v) > this.limits.maxValueBytes) throw new KvQuotaError(`value for ${key} exceeds ${this.limits.maxValueBytes} bytes`);
    const updated = await this.db
      .updateTable('kv')
      .set({ v, updated_at: now })
      .where('tenant_id', '=', this.tenantId)
      .where('k', '=', key)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) > 0) return;
    const count = await this.db
      .selectFrom('kv')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', this.tenantId)
      .executeTakeFirstOrThrow();
    if (Number(count.n) >= this.limits.maxKeys) throw new KvQuotaError(`the store holds its maximum of ${this.limits.maxKeys} keys`);
    try {
      await this.db.insertInto('kv').values({ tenant_id: this.tenantId, k: key, v, updated_at: now }).execute();
    } catch {
      // Inserted concurrently by another execution: last write wins, as for an update.
      await this.db.updateTable('kv').set({ v, updated_at: now }).where('tenant_id', '=', this.tenantId).where('k', '=', key).execute();
    }
  }

  async delete(key: string): Promise<boolean> {
    const r = await this.db.deleteFrom('kv').where('tenant_id', '=', this.tenantId).where('k', '=', key).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async keys(prefix = '', limit = 1000): Promise<string[]> {
    let q = this.db.selectFrom('kv').select('k').where('tenant_id', '=', this.tenantId);
    if (prefix) q = q.where('k', '>=', prefix).where('k', '<', `${prefix}\uffff`);
    const rows = await q.orderBy('k').limit(limit).execute();
    return rows.map((r) => r.k);
  }
}
