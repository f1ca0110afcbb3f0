import type { Kysely } from 'kysely';

/**
 * Several nodes on one database. `nodes`: each node's SIP and HTTP addresses and its heartbeat, so
 * the others know who is up and a survivor can claim a dead node's calls (`taken_over_by`, set by
 * one conditional update). `registrations.path`: the Path (RFC 3327) a phone's REGISTER came
 * through (the front door), a JSON array of URIs, so any node reaches the phone through it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('nodes')
    .addColumn('id', 'varchar(100)', (c) => c.primaryKey())
    .addColumn('sip_address', 'varchar(255)', (c) => c.notNull())
    .addColumn('http_url', 'varchar(255)', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('heartbeat_at', 'bigint', (c) => c.notNull())
    .addColumn('stopped_at', 'bigint')
    .addColumn('taken_over_by', 'varchar(100)')
    .addColumn('taken_over_at', 'bigint')
    .execute();
  await db.schema.alterTable('registrations').addColumn('path', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('registrations').dropColumn('path').execute();
  await db.schema.dropTable('nodes').execute();
}
