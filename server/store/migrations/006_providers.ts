import type { Kysely } from 'kysely';

/**
 * Providers (SIP trunks) of a tenant, and what the registration agent last learned about each.
 * Status lives in its own table: the agent rewrites it often, the definition rarely.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('providers')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('tenant_id', 'varchar(36)', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
    .addColumn('name', 'varchar(64)', (c) => c.notNull())
    .addColumn('host', 'varchar(255)', (c) => c.notNull())
    .addColumn('port', 'integer')
    .addColumn('transport', 'varchar(8)', (c) => c.notNull())
    .addColumn('outbound_proxy', 'varchar(255)')
    .addColumn('username', 'varchar(128)')
    .addColumn('auth_username', 'varchar(128)')
    // AES-256-GCM under the credentials key from configuration; never the password itself.
    .addColumn('password_enc', 'text')
    .addColumn('realm', 'varchar(255)')
    .addColumn('from_user', 'varchar(128)')
    .addColumn('from_host', 'varchar(255)')
    .addColumn('from_display', 'varchar(128)')
    .addColumn('headers', 'text', (c) => c.notNull())
    .addColumn('register', 'integer', (c) => c.notNull())
    .addColumn('register_expires', 'integer', (c) => c.notNull())
    .addColumn('contact_user', 'varchar(128)')
    // Carried in the Contact we register (`;line=`): how an incoming INVITE names its provider entry.
    .addColumn('line_token', 'varchar(64)', (c) => c.notNull())
    .addColumn('dialplan', 'varchar(64)')
    .addColumn('source_addresses', 'text', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('providers_name').on('providers').columns(['tenant_id', 'name']).unique().execute();
  await db.schema.createIndex('providers_line').on('providers').column('line_token').unique().execute();

  await db.schema
    .createTable('provider_status')
    .addColumn('provider_id', 'varchar(36)', (c) => c.primaryKey().references('providers.id').onDelete('cascade'))
    .addColumn('tenant_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('state', 'varchar(16)', (c) => c.notNull())
    .addColumn('last_status', 'integer')
    .addColumn('last_reason', 'varchar(255)')
    .addColumn('last_error', 'varchar(512)')
    .addColumn('next_attempt_at', 'bigint')
    .addColumn('registered_until', 'bigint')
    .addColumn('rtt_ms', 'integer')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('provider_status').execute();
  await db.schema.dropTable('providers').execute();
}
