import type { Kysely } from 'kysely';

/**
 * The media quality of a call in columns of its record, for the dashboard's quality figures (summed
 * in SQL, on both dialects, instead of reading every record's legs JSON): whether audio flowed both
 * ways on its answered legs, and the packets, loss and jitter of what the caller's phone and the
 * answering phone sent. Null when the relay measured nothing (no relay, direct media, unanswered),
 * and for records written before this migration. And an index to find a call's record by the
 * switch's call id (a recording names its call by that id).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // One statement per column: SQLite's ALTER TABLE adds one at a time.
  for (const [name, type] of [
    ['audio_both_ways', 'integer'],
    ['caller_packets', 'bigint'],
    ['caller_lost', 'bigint'],
    ['caller_jitter_ms', 'double precision'],
    ['callee_packets', 'bigint'],
    ['callee_lost', 'bigint'],
    ['callee_jitter_ms', 'double precision'],
  ] as const) {
    await db.schema.alterTable('cdrs').addColumn(name, type).execute();
  }
  await db.schema.createIndex('cdrs_call').on('cdrs').columns(['tenant_id', 'call_id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('cdrs_call').on('cdrs').execute();
  for (const name of ['audio_both_ways', 'caller_packets', 'caller_lost', 'caller_jitter_ms', 'callee_packets', 'callee_lost', 'callee_jitter_ms']) {
    await db.schema.alterTable('cdrs').dropColumn(name).execute();
  }
}
