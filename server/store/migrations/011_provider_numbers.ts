import type { Kysely } from 'kysely';

/**
 * The numbers (DIDs) a tenant's provider entry delivers: each held by one entry of one tenant on
 * the whole switch (the primary key), so a call for a number names its tenant, whoever else lists
 * the carrier's addresses. Digits only, as the API normalises them.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('provider_numbers')
    .addColumn('number', 'varchar(20)', (c) => c.primaryKey())
    .addColumn('provider_id', 'varchar(36)', (c) => c.notNull().references('providers.id').onDelete('cascade'))
    .addColumn('tenant_id', 'varchar(36)', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('provider_numbers_provider').on('provider_numbers').column('provider_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('provider_numbers').execute();
}
