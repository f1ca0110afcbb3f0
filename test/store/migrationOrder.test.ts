/**
 * Migration numbers are handed out per piece of work and land in any order: a database that has
 * run a later number (011) still gets an earlier one merged after it (008), on both dialects.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Migrator } from 'kysely';
import { migrateToLatest, openDatabase } from '../../server/store/db.ts';
import * as m001 from '../../server/store/migrations/001_foundation.ts';
import * as m002 from '../../server/store/migrations/002_dialplans.ts';
import * as m003 from '../../server/store/migrations/003_cdrs.ts';
import * as m004 from '../../server/store/migrations/004_live_calls.ts';
import * as m005 from '../../server/store/migrations/005_cdr_numbers.ts';
import * as m006 from '../../server/store/migrations/006_providers.ts';
import * as m007 from '../../server/store/migrations/007_toll_fraud.ts';
import * as m011 from '../../server/store/migrations/011_provider_numbers.ts';
import { createTestDatabase, DIALECTS, skipUnless } from '../helpers/databases.ts';

/** What a database had run before 008 was merged. */
const BEFORE_008 = {
  '001_foundation': m001,
  '002_dialplans': m002,
  '003_cdrs': m003,
  '004_live_calls': m004,
  '005_cdr_numbers': m005,
  '006_providers': m006,
  '007_toll_fraud': m007,
  '011_provider_numbers': m011,
};

for (const dialect of DIALECTS) {
  describe(`migrations merged out of order [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    test('a database that ran 011 gets 008 at the next start', async () => {
      const tdb = await createTestDatabase(dialect);
      const db = openDatabase(tdb.url);
      try {
        const early = await new Migrator({ db: db.kysely, provider: { getMigrations: async () => BEFORE_008 } }).migrateToLatest();
        assert.equal(early.error, undefined);
        assert.deepEqual(await migrateToLatest(db), ['008_key_scopes_quotas_paging', '015_audio']);
        assert.deepEqual(await migrateToLatest(db), [], 'and nothing twice');
      } finally {
        await db.close();
        await tdb.drop();
      }
    });
  });
}
