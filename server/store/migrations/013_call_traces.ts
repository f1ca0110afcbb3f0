import { sql, type Kysely } from 'kysely';

/**
 * Call traces: the SIP messages of a call's legs, one row per call, kept as long as its record
 * (the record purge deletes them). MEDIUMTEXT: a trace is bounded at 512 KiB, past MySQL's TEXT.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('call_traces')
    .addColumn('call_id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('tenant_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('messages', sql`mediumtext`, (c) => c.notNull())
    .addColumn('dropped', 'integer', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('call_traces_started').on('call_traces').column('started_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('call_traces').execute();
}
