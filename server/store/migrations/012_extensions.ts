import type { Kysely } from 'kysely';

/**
 * Extensions: a phone may carry a short number (100, 101, …) its colleagues dial, unique within
 * its tenant (two tenants both have a 100). Null for a phone without one.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('sip_accounts').addColumn('extension', 'varchar(8)').execute();
  await db.schema.createIndex('sip_accounts_extension').on('sip_accounts').columns(['tenant_id', 'extension']).unique().execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('sip_accounts_extension').on('sip_accounts').execute();
  await db.schema.alterTable('sip_accounts').dropColumn('extension').execute();
}
