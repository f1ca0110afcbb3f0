import type { Kysely } from 'kysely';
import { searchableNumbers } from '../cdrNumbers.ts';

/**
 * The numbers a call record can be found by (caller, callee, each dialled target and its user
 * part), one row each: searching CDRs by number becomes an index range instead of a scan of the
 * tenant's records (measured 6.5 s on MariaDB at a million records before).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('cdr_numbers')
    .addColumn('tenant_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('number', 'varchar(255)', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('cdr_id', 'varchar(36)', (c) => c.notNull())
    .addPrimaryKeyConstraint('cdr_numbers_pk', ['tenant_id', 'number', 'started_at', 'cdr_id'])
    .execute();
  await db.schema.createIndex('cdr_numbers_cdr').on('cdr_numbers').column('cdr_id').execute();
  // Records written before this migration become findable too, in batches.
  for (let last = ''; ;) {
    const rows = await db.selectFrom('cdrs').select(['id', 'tenant_id', 'started_at', 'caller', 'callee', 'dialled']).where('id', '>', last).orderBy('id').limit(1000).execute();
    if (!rows.length) break;
    const values = rows.flatMap((r: { id: string; tenant_id: string; started_at: number; caller: string; callee: string; dialled: string }) =>
      searchableNumbers(r.caller, r.callee, r.dialled.split(' ').filter(Boolean)).map((number) => ({ tenant_id: r.tenant_id, number, started_at: r.started_at, cdr_id: r.id })),
    );
    if (values.length) await db.insertInto('cdr_numbers').values(values).execute();
    last = rows[rows.length - 1]!.id;
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('cdr_numbers').execute();
}
