import { MysqlAdapter, sql, type Kysely } from 'kysely';

/**
 * API keys get a scope (`full` or `read-only`) and an optional expiry; keys made before keep
 * working as full keys that never expire.
 *
 * `kv_usage` keeps each tenant's key/value totals (keys, bytes of keys and values) so a write can
 * check the tenant's quota in one row instead of summing its store; it starts from what is stored.
 *
 * The registrations listing is keyset-paged per tenant in (account_id, id) order.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('api_keys')
    .addColumn('scope', 'varchar(16)', (c) => c.notNull().defaultTo('full'))
    .execute();
  await db.schema.alterTable('api_keys').addColumn('expires_at', 'bigint').execute();

  await db.schema
    .createTable('kv_usage')
    .addColumn('tenant_id', 'varchar(36)', (c) => c.primaryKey().references('tenants.id').onDelete('cascade'))
    .addColumn('key_count', 'integer', (c) => c.notNull())
    .addColumn('bytes', 'bigint', (c) => c.notNull())
    .execute();
  // Bytes as UTF-8, as the store counts them (SQLite's length() of text counts characters).
  const bytes = db.getExecutor().adapter instanceof MysqlAdapter ? sql`SUM(LENGTH(k) + LENGTH(v))` : sql`SUM(LENGTH(CAST(k AS BLOB)) + LENGTH(CAST(v AS BLOB)))`;
  await sql`INSERT INTO kv_usage (tenant_id, key_count, bytes) SELECT tenant_id, COUNT(*), ${bytes} FROM kv GROUP BY tenant_id`.execute(db);

  await db.schema.createIndex('registrations_tenant_listing').on('registrations').columns(['tenant_id', 'account_id', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('registrations_tenant_listing').on('registrations').execute();
  await db.schema.dropTable('kv_usage').execute();
  await db.schema.alterTable('api_keys').dropColumn('expires_at').execute();
  await db.schema.alterTable('api_keys').dropColumn('scope').execute();
}
