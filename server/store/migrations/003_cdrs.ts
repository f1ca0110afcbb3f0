import { MysqlAdapter, sql, type Kysely } from 'kysely';

/**
 * Call records. No foreign key to tenants: the writer must never be blocked by a record whose
 * tenant was deleted while the call ran. Indexes serve the newest-first keyset listing, the status
 * filters and the retention purge; the number filter rides the listing index (see server/cdr/README.md).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // MySQL's TEXT holds 64 KiB; a record with many legs and a full log of multi-byte text can exceed it.
  const json = db.getExecutor().adapter instanceof MysqlAdapter ? sql`mediumtext` : sql`text`;
  await db.schema
    .createTable('cdrs')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('tenant_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('call_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('node_id', 'varchar(100)', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('ringing_at', 'bigint')
    .addColumn('answered_at', 'bigint')
    .addColumn('ended_at', 'bigint', (c) => c.notNull())
    .addColumn('ring_ms', 'bigint')
    .addColumn('talk_ms', 'bigint', (c) => c.notNull())
    .addColumn('direction', 'varchar(8)', (c) => c.notNull())
    .addColumn('caller', 'varchar(255)', (c) => c.notNull())
    .addColumn('callee', 'varchar(255)', (c) => c.notNull())
    .addColumn('dialled', 'varchar(1024)', (c) => c.notNull())
    .addColumn('account', 'varchar(64)')
    .addColumn('provider', 'varchar(64)')
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('sip_status', 'integer')
    .addColumn('hangup_cause', 'varchar(32)')
    .addColumn('hangup_by', 'varchar(8)')
    .addColumn('dialplan_name', 'varchar(64)')
    .addColumn('dialplan_version', 'integer')
    .addColumn('dialplan_outcome', 'varchar(255)')
    .addColumn('legs', json, (c) => c.notNull())
    .addColumn('log', json, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('cdrs_listing').on('cdrs').columns(['tenant_id', 'started_at', 'id']).execute();
  await db.schema.createIndex('cdrs_status').on('cdrs').columns(['tenant_id', 'status', 'started_at', 'id']).execute();
  await db.schema.createIndex('cdrs_sip_status').on('cdrs').columns(['tenant_id', 'sip_status', 'started_at', 'id']).execute();
  await db.schema.createIndex('cdrs_started').on('cdrs').column('started_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('cdrs').execute();
}
