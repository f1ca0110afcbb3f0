/**
 * The location overlay (server/store/locationOverlay.ts) on SQLite and MySQL: registration changes
 * the database cannot take are served from memory and written when it answers again, the last per
 * contact winning, never over a newer stored binding, within a bound. "Unreachable" is played by a
 * SqlLocationStore whose calls fail with ECONNREFUSED while `down`; the real outage (a MariaDB
 * stopped under the switch) is test/outage/registrationsDuringOutage.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { computeHa1 } from '../../server/sip/digest.ts';
import { ReadThroughCache } from '../../server/store/cache.ts';
import { Store } from '../../server/store/index.ts';
import { newId } from '../../server/store/ids.ts';
import { openLocationJournal, type LocationJournal } from '../../server/store/locationJournal.ts';
import { LocationOverlay, LocationOverlayFullError } from '../../server/store/locationOverlay.ts';
import { SqlLocationStore, type Binding, type BindingChanges, type PendingWrite } from '../../server/store/registrations.ts';
import { createTestDatabase, DIALECTS, skipUnless, type TestDatabase } from '../helpers/databases.ts';
import { eventually } from '../helpers/time.ts';

const unreachable = () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });

/** The SQL store with a switch: while `down`, every call fails as a stopped MySQL would make it fail. */
class SwitchableSql extends SqlLocationStore {
  down = false;
  /** Calls refused while down. */
  refused = 0;
  private check(): void {
    if (!this.down) return;
    this.refused++;
    throw unreachable();
  }
  override async bindings(accountId: string, now: number): Promise<Binding[]> {
    this.check();
    return super.bindings(accountId, now);
  }
  override async apply(changes: BindingChanges, existing: ReadonlySet<string>) {
    this.check();
    return super.apply(changes, existing);
  }
  override async writeIfNewer(change: PendingWrite): Promise<void> {
    this.check();
    return super.writeIfNewer(change);
  }
}

for (const dialect of DIALECTS) {
  describe(`location overlay [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    let db: TestDatabase;
    let store: Store;
    before(async () => {
      db = await createTestDatabase(dialect);
      store = await Store.open(db.url);
    });
    after(async () => {
      await store?.close();
      await db?.drop();
    });

    async function setup(o: { maxPending?: number; journal?: LocationJournal } = {}) {
      const { tenantId } = await store.directory.createTenantWithOwner(`o-${newId()}@x.test`, 'h');
      const username = `ov${newId().slice(-12).replace(/-/g, '')}`;
      const account = await store.tenant(tenantId).sipAccounts.create({
        username,
        displayName: null,
        realm: 'r',
        ha1Md5: computeHa1('MD5', username, 'r', 'pw'),
        ha1Sha256: computeHa1('SHA-256', username, 'r', 'pw'),
        digestAlgorithms: null,
      });
      const sql = new SwitchableSql(store.kysely);
      const lines: Array<{ level: number; msg: string }> = [];
      const log = pino({ level: 'trace' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
      const overlay = new LocationOverlay(sql, {
        lastKnown: new ReadThroughCache<Binding[]>({ name: 'bindings', ttlMs: 0, maxEntries: 100, maxStaleMs: 60_000 }),
        log,
        retryBaseMs: 20,
        retryMaxMs: 100,
        ...(o.maxPending ? { maxPending: o.maxPending } : {}),
        ...(o.journal ? { journal: o.journal } : {}),
      });
      let port = 5000;
      const binding = (contactHash: string, at = Date.now(), extra: Partial<Binding> = {}): Binding => ({
        id: newId(),
        tenantId,
        accountId: account.id,
        contactHash,
        contactUri: `sip:${username}@127.0.0.1:${++port}`,
        callId: 'c',
        cseq: 1,
        expiresAt: at + 3600_000,
        sourceIp: '127.0.0.1',
        sourcePort: port,
        transport: 'udp',
        userAgent: null,
        algorithm: 'MD5',
        nodeId: 'n',
        createdAt: at,
        updatedAt: at,
        ...extra,
      });
      /** What the database holds for the account, by contact. */
      const stored = async () => new Map((await new SqlLocationStore(store.kysely).bindings(account.id, Date.now())).map((b) => [b.contactHash, b]));
      const waitFlushed = async () => {
        for (let i = 0; i < 100 && overlay.pendingWrites; i++) await new Promise((r) => setTimeout(r, 20));
        assert.equal(overlay.pendingWrites, 0, 'every pending write flushed within 2 s');
      };
      return { overlay, sql, account, binding, stored, waitFlushed, lines, log };
    }

    test('a change the database cannot take is served from memory and written when it answers', async () => {
      const { overlay, sql, account, binding, stored, waitFlushed, lines } = await setup();
      const before = binding('h-before');
      assert.equal(await overlay.apply({ upsert: [before], remove: [] }, new Set()), 'stored');
      assert.deepEqual(
        (await overlay.bindings(account.id, Date.now())).map((b) => b.id),
        [before.id],
      );

      sql.down = true;
      const during = binding('h-during');
      assert.equal(await overlay.apply({ upsert: [during], remove: [] }, new Set()), 'deferred');
      assert.equal(overlay.pendingWrites, 1);
      // The database's last known rows with the overlay on top.
      assert.deepEqual(
        (await overlay.bindings(account.id, Date.now())).map((b) => b.id),
        [before.id, during.id],
      );
      assert.equal((await stored()).has('h-during'), false);
      const refused = sql.refused;
      await eventually('two retries, refused', () => sql.refused >= refused + 2);
      assert.equal(overlay.pendingWrites, 1);

      sql.down = false;
      await waitFlushed();
      const rows = await stored();
      assert.equal(rows.get('h-during')?.id, during.id);
      assert.equal(rows.get('h-before')?.id, before.id);
      assert.ok(
        lines.some((l) => l.level === 40 && /registrations are kept in memory/.test(l.msg)),
        'a warning when the outage starts',
      );
      assert.ok(
        lines.some((l) => l.level === 30 && /registration changes kept in memory are stored/.test(l.msg)),
        'a line when they are stored',
      );
    });

    test('the last change per contact wins: refreshes coalesce, a removal removes the stored binding', async () => {
      const { overlay, sql, account, binding, stored, waitFlushed } = await setup();
      const gone = binding('h-gone');
      const kept = binding('h-kept');
      await overlay.apply({ upsert: [gone, kept], remove: [] }, new Set());
      sql.down = true;
      const t = Date.now();
      await overlay.apply({ upsert: [{ ...kept, cseq: 2, updatedAt: t + 1, expiresAt: t + 60_000 }], remove: [] }, new Set([kept.id]));
      await overlay.apply({ upsert: [{ ...kept, cseq: 3, updatedAt: t + 2, expiresAt: t + 120_000 }], remove: [] }, new Set([kept.id]));
      await overlay.apply({ upsert: [], remove: [gone] }, new Set([gone.id]));
      assert.equal(overlay.pendingWrites, 2, 'one pending write per contact');
      const seen = await overlay.bindings(account.id, Date.now());
      assert.deepEqual(
        seen.map((b) => [b.contactHash, b.cseq]),
        [['h-kept', 3]],
      );

      sql.down = false;
      await waitFlushed();
      const rows = await stored();
      assert.deepEqual([...rows.keys()], ['h-kept']);
      assert.equal(rows.get('h-kept')!.cseq, 3);
      assert.equal(rows.get('h-kept')!.expiresAt, t + 120_000);
    });

    test('a newer stored binding of the same contact (another node, after the outage) is not overwritten', async () => {
      const { overlay, sql, binding, stored, waitFlushed } = await setup();
      sql.down = true;
      const t = Date.now();
      await overlay.apply({ upsert: [binding('h-x', t, { cseq: 5 })], remove: [] }, new Set());
      // Another node stores a later REGISTER of the same contact once the database is back.
      const newer = binding('h-x', t + 1000, { cseq: 6, nodeId: 'other' });
      await new SqlLocationStore(store.kysely).apply({ upsert: [newer], remove: [] }, new Set());
      sql.down = false;
      await waitFlushed();
      const row = (await stored()).get('h-x')!;
      assert.equal(row.id, newer.id);
      assert.equal(row.nodeId, 'other');
    });

    test('while changes are pending, new ones join them, so they reach the database in order', async () => {
      const { overlay, sql, binding, stored, waitFlushed } = await setup();
      sql.down = true;
      const first = binding('h-o', Date.now(), { cseq: 1 });
      await overlay.apply({ upsert: [first], remove: [] }, new Set());
      sql.down = false;
      // The database answers again, but a write is still pending: this one queues behind it.
      const later = { ...first, cseq: 2, updatedAt: first.updatedAt + 1 };
      assert.equal(await overlay.apply({ upsert: [later], remove: [] }, new Set([first.id])), 'deferred');
      await waitFlushed();
      assert.equal((await stored()).get('h-o')!.cseq, 2);
      assert.equal(await overlay.apply({ upsert: [{ ...later, cseq: 3, updatedAt: later.updatedAt + 1 }], remove: [] }, new Set([first.id])), 'stored');
    });

    test('with nothing read of an account before the outage, what the node was told is served', async () => {
      const { overlay, sql, account, binding } = await setup();
      sql.down = true;
      assert.deepEqual(await overlay.bindings(account.id, Date.now()), []);
      const b = binding('h-new');
      await overlay.apply({ upsert: [b], remove: [] }, new Set());
      assert.deepEqual(
        (await overlay.bindings(account.id, Date.now())).map((x) => x.id),
        [b.id],
      );
      sql.down = false;
      await overlay.stop();
    });

    test('bounded: beyond maxPending contacts a new one is refused (logged once); pending contacts may still change', async () => {
      const { overlay, sql, binding, lines } = await setup({ maxPending: 2 });
      sql.down = true;
      const a = binding('h-a');
      await overlay.apply({ upsert: [a, binding('h-b')], remove: [] }, new Set());
      await assert.rejects(overlay.apply({ upsert: [binding('h-c')], remove: [] }, new Set()), LocationOverlayFullError);
      await assert.rejects(overlay.apply({ upsert: [binding('h-d')], remove: [] }, new Set()), LocationOverlayFullError);
      assert.equal(await overlay.apply({ upsert: [{ ...a, cseq: 2, updatedAt: a.updatedAt + 1 }], remove: [] }, new Set()), 'deferred');
      assert.equal(overlay.pendingWrites, 2);
      assert.equal(lines.filter((l) => l.level === 50 && /reached their bound/.test(l.msg)).length, 1);
      sql.down = false;
      await overlay.stop();
    });

    test('a pending change the database refuses (its account was deleted meanwhile) is dropped with an error line, the others written', async () => {
      const { overlay, sql, binding, stored, waitFlushed, lines } = await setup();
      sql.down = true;
      const orphan = binding('h-orphan', Date.now(), { accountId: newId() });
      const fine = binding('h-fine');
      await overlay.apply({ upsert: [orphan], remove: [] }, new Set());
      await overlay.apply({ upsert: [fine], remove: [] }, new Set());
      sql.down = false;
      await waitFlushed();
      assert.equal((await stored()).get('h-fine')?.id, fine.id);
      assert.ok(lines.some((l) => l.level === 50 && /refused a registration change/.test(l.msg)));
    });

    test('stop writes what is pending when the database answers', async () => {
      const { overlay, sql, binding, stored } = await setup();
      sql.down = true;
      const b = binding('h-stop');
      await overlay.apply({ upsert: [b], remove: [] }, new Set());
      sql.down = false;
      await overlay.stop();
      assert.equal((await stored()).get('h-stop')?.id, b.id);
    });

    test('with a journal, changes kept during an outage outlive a stop: the next run serves them and writes them', async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'location-journal-'));
      try {
        const first = await setup({ journal: await openLocationJournal(dir, pino({ level: 'silent' })) });
        const gone = first.binding('h-gone');
        await first.overlay.apply({ upsert: [gone], remove: [] }, new Set());
        first.sql.down = true;
        const kept = first.binding('h-kept');
        const t = Date.now();
        assert.equal(await first.overlay.apply({ upsert: [kept], remove: [] }, new Set()), 'deferred');
        const refreshed = { ...kept, cseq: 2, updatedAt: t + 1, expiresAt: t + 600_000 };
        await first.overlay.apply({ upsert: [refreshed], remove: [] }, new Set([kept.id]));
        await first.overlay.apply({ upsert: [], remove: [gone] }, new Set([gone.id]));
        await first.overlay.stop(100);
        assert.ok(
          first.lines.some((l) => l.level === 40 && /stay in the journal/.test(l.msg)),
          'the stop says where the changes are',
        );
        assert.equal((await first.stored()).get('h-kept'), undefined, 'nothing reached the database');

        // The next run, on the same journal; the database answers again.
        const journal = await openLocationJournal(dir, pino({ level: 'silent' }));
        assert.equal(journal.leftover.length, 3, 'every deferred change is on disk');
        const lines: Array<{ level: number; msg: string }> = [];
        const second = new LocationOverlay(new SqlLocationStore(store.kysely), {
          lastKnown: new ReadThroughCache<Binding[]>({ name: 'bindings', ttlMs: 0, maxEntries: 100, maxStaleMs: 60_000 }),
          log: pino({ level: 'trace' }, { write: (l: string) => void lines.push(JSON.parse(l)) }),
          retryBaseMs: 20,
          retryMaxMs: 100,
          journal,
        });
        // Served at once, with the last change per contact winning, before they are written.
        assert.deepEqual(
          (await second.bindings(first.account.id, Date.now())).map((b) => [b.contactHash, b.cseq]),
          [['h-kept', 2]],
        );
        for (let i = 0; i < 100 && second.pendingWrites; i++) await new Promise((r) => setTimeout(r, 20));
        assert.equal(second.pendingWrites, 0, 'written within 2 s');
        const rows = await first.stored();
        assert.deepEqual([...rows.keys()], ['h-kept']);
        assert.equal(rows.get('h-kept')!.cseq, 2);
        assert.equal(rows.get('h-kept')!.expiresAt, t + 600_000);
        assert.ok(lines.some((l) => l.level === 40 && /an earlier run could not store/.test(l.msg)));
        await second.stop();
        assert.equal((await openLocationJournal(dir, pino({ level: 'silent' }))).leftover.length, 0, 'the journal is empty once all is stored');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
