import type { Kysely, Transaction } from 'kysely';
import { retryOnConflict } from './errors.ts';
import type { Database } from './schema.ts';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A write the tenant's quota does not allow; the message is meant for the tenant's script. */
export class KvQuotaError extends Error {}

export interface KvLimits {
  maxKeys: number;
  maxValueBytes: number;
  /** Keys and JSON values together, as UTF-8. */
  maxTotalBytes: number;
}

export const DEFAULT_KV_LIMITS: KvLimits = { maxKeys: 10_000, maxValueBytes: 16_384, maxTotalBytes: 4 * 1024 * 1024 };

export interface KvUsage {
  keys: number;
  bytes: number;
}

/** What one entry costs against the quota: its key and its JSON text, as UTF-8. */
export const entryBytes = (key: string, json: string): number => Buffer.byteLength(key) + Buffer.byteLength(json);

/**
 * Refuses a write that would take the store past its limits. `replaced` is the JSON the key holds
 * now (undefined: a new key). Shared by the store and the simulator's copy of it, so a test run
 * hits the same limits as a call.
 */
export function checkKvWrite(limits: KvLimits, usage: KvUsage, key: string, json: string, replaced: string | undefined): KvUsage {
  const valueBytes = Buffer.byteLength(json);
  if (valueBytes > limits.maxValueBytes) {
    throw new KvQuotaError(`store.set: the value for ${key} is ${valueBytes} bytes; a value may have at most ${limits.maxValueBytes}`);
  }
  const next = {
    keys: usage.keys + (replaced === undefined ? 1 : 0),
    bytes: usage.bytes + entryBytes(key, json) - (replaced === undefined ? 0 : entryBytes(key, replaced)),
  };
  if (next.keys > limits.maxKeys) throw new KvQuotaError(`store.set: the store holds its maximum of ${limits.maxKeys} keys; delete some first`);
  if (next.bytes > usage.bytes && next.bytes > limits.maxTotalBytes) {
    throw new KvQuotaError(`store.set: the store holds ${usage.bytes} bytes and may hold at most ${limits.maxTotalBytes} (keys and values); delete some first`);
  }
  return next;
}

interface KvUsageTable {
  tenant_id: string;
  key_count: number;
  bytes: number;
}

type Db = Kysely<Database & { kv_usage: KvUsageTable }>;

/**
 * A tenant's key/value store, the `store` of its dialplans. Values are JSON. The tenant's totals
 * live in `kv_usage`; every write locks that row first, so concurrent writes (on any node) are
 * counted one after the other and the totals stay exact.
 */
export class TenantKv {
  private readonly db: Db;
  readonly limits: KvLimits;

  constructor(
    db: Kysely<Database>,
    private readonly tenantId: string,
    limits: Partial<KvLimits> = {},
  ) {
    this.db = db.withTables<{ kv_usage: KvUsageTable }>();
    this.limits = { ...DEFAULT_KV_LIMITS, ...limits };
  }

  async get(key: string): Promise<JsonValue | undefined> {
    const r = await this.db.selectFrom('kv').select('v').where('tenant_id', '=', this.tenantId).where('k', '=', key).executeTakeFirst();
    return r ? (JSON.parse(r.v) as JsonValue) : undefined;
  }

  /** Throws KvQuotaError when the write would pass a limit; nothing is written then. */
  async set(key: string, value: JsonValue, now = Date.now()): Promise<void> {
    const v = JSON.stringify(value);
    checkKvWrite(this.limits, { keys: 0, bytes: 0 }, key, v, undefined);
    await this.ensureUsageRow();
    await retryOnConflict(() =>
      this.db.transaction().execute(async (trx) => {
        const usage = await this.lockUsage(trx);
        const old = await trx.selectFrom('kv').select('v').where('tenant_id', '=', this.tenantId).where('k', '=', key).executeTakeFirst();
        const next = checkKvWrite(this.limits, usage, key, v, old?.v);
        if (old) await trx.updateTable('kv').set({ v, updated_at: now }).where('tenant_id', '=', this.tenantId).where('k', '=', key).execute();
        else await trx.insertInto('kv').values({ tenant_id: this.tenantId, k: key, v, updated_at: now }).execute();
        await this.saveUsage(trx, next);
      }),
    );
  }

  async delete(key: string): Promise<boolean> {
    await this.ensureUsageRow();
    return retryOnConflict(() =>
      this.db.transaction().execute(async (trx) => {
        const usage = await this.lockUsage(trx);
        const old = await trx.selectFrom('kv').select('v').where('tenant_id', '=', this.tenantId).where('k', '=', key).executeTakeFirst();
        if (!old) return false;
        await trx.deleteFrom('kv').where('tenant_id', '=', this.tenantId).where('k', '=', key).execute();
        await this.saveUsage(trx, { keys: usage.keys - 1, bytes: usage.bytes - entryBytes(key, old.v) });
        return true;
      }),
    );
  }

  async keys(prefix = '', limit = 1000): Promise<string[]> {
    let q = this.db.selectFrom('kv').select('k').where('tenant_id', '=', this.tenantId);
    if (prefix) q = q.where('k', '>=', prefix).where('k', '<', `${prefix}\uffff`);
    const rows = await q.orderBy('k').limit(limit).execute();
    return rows.map((r) => r.k);
  }

  /** How much of its quota the tenant uses. */
  async usage(): Promise<KvUsage> {
    const r = await this.db.selectFrom('kv_usage').select(['key_count', 'bytes']).where('tenant_id', '=', this.tenantId).executeTakeFirst();
    return { keys: Number(r?.key_count ?? 0), bytes: Number(r?.bytes ?? 0) };
  }

  private async ensureUsageRow(): Promise<void> {
    await this.db.insertInto('kv_usage').values({ tenant_id: this.tenantId, key_count: 0, bytes: 0 }).orIgnore().execute();
  }

  /** A write to the row takes its lock (InnoDB) before anything of the tenant's store is read. */
  private async lockUsage(trx: Transaction<Database & { kv_usage: KvUsageTable }>): Promise<KvUsage> {
    await trx
      .updateTable('kv_usage')
      .set((eb) => ({ key_count: eb.ref('key_count') }))
      .where('tenant_id', '=', this.tenantId)
      .execute();
    const r = await trx.selectFrom('kv_usage').select(['key_count', 'bytes']).where('tenant_id', '=', this.tenantId).executeTakeFirstOrThrow();
    return { keys: Number(r.key_count), bytes: Number(r.bytes) };
  }

  private async saveUsage(trx: Transaction<Database & { kv_usage: KvUsageTable }>, u: KvUsage): Promise<void> {
    await trx.updateTable('kv_usage').set({ key_count: u.keys, bytes: u.bytes }).where('tenant_id', '=', this.tenantId).execute();
  }
}
