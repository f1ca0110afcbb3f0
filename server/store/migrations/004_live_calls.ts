import { MysqlAdapter, sql, type Kysely } from 'kysely';

/**
 * What a restarted node needs to carry on with the calls it held: per live call, its dialogs and
 * in-flight INVITEs (enough to CANCEL a branch, answer the caller, relay BYE), its timers'
 * deadlines, and the node that owns it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('live_calls')
    .addColumn('call_id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('tenant_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('node_id', 'varchar(100)', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  // A call's state can outgrow TEXT (64 KiB) on MySQL with many legs and long SDPs.
  if (db.getExecutor().adapter instanceof MysqlAdapter) {
    await sql`ALTER TABLE live_calls MODIFY state MEDIUMTEXT NOT NULL`.execute(db);
  }
  await db.schema.createIndex('live_calls_node').on('live_calls').column('node_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('live_calls').execute();
}
