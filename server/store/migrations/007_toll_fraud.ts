import type { Kysely } from 'kysely';

/**
 * A tenant's home country (how its provider legs' numbers are read) and whether it may call
 * abroad through its providers. International calls are off for a new tenant until it turns them
 * on; tenants that existed before this migration keep calling as they did.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('tenants').addColumn('country', 'varchar(2)').execute();
  await db.schema
    .alterTable('tenants')
    .addColumn('international_calls', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.updateTable('tenants').set({ international_calls: 1 }).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('tenants').dropColumn('international_calls').execute();
  await db.schema.alterTable('tenants').dropColumn('country').execute();
}
