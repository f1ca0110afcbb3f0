import { MysqlAdapter, sql, type Kysely } from 'kysely';

/**
 * Dialplan audio: a tenant's prompts (converted audio kept in the database, so every node plays
 * the same and a backup holds them) and its recordings (rows here, the audio in files under
 * DATA_DIR/recordings/<tenant>/, too big and too many for the database).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const mysql = db.getExecutor().adapter instanceof MysqlAdapter;
  await db.schema
    .createTable('prompts')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('tenant_id', 'varchar(36)', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('name', 'varchar(64)', (c) => c.notNull())
    // 8 kHz mono 16-bit WAV, at most 300 s: 4.8 MB, past MySQL's 64 KB blob.
    .addColumn('audio', mysql ? sql`mediumblob` : 'blob', (c) => c.notNull())
    .addColumn('duration_ms', 'integer', (c) => c.notNull())
    .addColumn('bytes', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('prompts_name').on('prompts').columns(['tenant_id', 'name']).unique().execute();

  await db.schema
    .createTable('recordings')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('tenant_id', 'varchar(36)', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    // The switch's call id: the call record (cdrs.call_id) it belongs to.
    .addColumn('call_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('channel_id', 'varchar(64)', (c) => c.notNull())
    // Relative to DATA_DIR/recordings.
    .addColumn('file', 'varchar(255)', (c) => c.notNull())
    .addColumn('duration_ms', 'integer', (c) => c.notNull())
    .addColumn('bytes', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('recordings_listing').on('recordings').columns(['tenant_id', 'created_at', 'id']).execute();
  await db.schema.createIndex('recordings_call').on('recordings').columns(['tenant_id', 'call_id']).execute();
  await db.schema.createIndex('recordings_age').on('recordings').column('created_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('recordings').execute();
  await db.schema.dropTable('prompts').execute();
}
