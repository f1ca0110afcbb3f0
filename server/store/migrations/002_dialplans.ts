import { MysqlAdapter, sql, type Kysely } from 'kysely';

/** Dialplans with their versions, the per-tenant key/value store, and which dialplan an account uses. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('dialplans')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('tenant_id', 'varchar(36)', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('name', 'varchar(64)', (c) => c.notNull())
    .addColumn('current_version', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('dialplans_name').on('dialplans').columns(['tenant_id', 'name']).unique().execute();

  // Every saved version is kept, so any can be restored; the source is what the tenant wrote.
  await db.schema
    .createTable('dialplan_versions')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('dialplan_id', 'varchar(36)', (c) => c.notNull().references('dialplans.id').onDelete('cascade'))
    .addColumn('tenant_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('dialplan_versions_number').on('dialplan_versions').columns(['dialplan_id', 'version']).unique().execute();

  // Dialplans' `store`: JSON values by key, one namespace per tenant.
  await db.schema
    .createTable('kv')
    .addColumn('tenant_id', 'varchar(36)', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('k', 'varchar(255)', (c) => c.notNull())
    .addColumn('v', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('kv_pk', ['tenant_id', 'k'])
    .execute();
  // MySQL's default collations fold case; keys a script writes as "A" and "a" must stay apart.
  if (db.getExecutor().adapter instanceof MysqlAdapter) {
    await sql`ALTER TABLE kv MODIFY k VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL`.execute(db);
  }

  // Which dialplan runs for calls an account's phone places, and (optionally) for calls it receives.
  await db.schema.alterTable('sip_accounts').addColumn('dialplan_out', 'varchar(64)').execute();
  await db.schema.alterTable('sip_accounts').addColumn('dialplan_in', 'varchar(64)').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('sip_accounts').dropColumn('dialplan_in').execute();
  await db.schema.alterTable('sip_accounts').dropColumn('dialplan_out').execute();
  await db.schema.dropTable('kv').execute();
  await db.schema.dropTable('dialplan_versions').execute();
  await db.schema.dropTable('dialplans').execute();
}
