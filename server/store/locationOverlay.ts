/**
 * The location service the switch uses: the SQL store, kept working while the database is
 * unreachable (`isDatabaseUnreachable`).
 *
 * - Reads: every lookup asks the database (bindings change at any node, so they are not cached for
 *   speed); the last rows read per account are kept, and served when the database cannot be reached
 *   (for at most `maxStaleMs`).
 * - Writes: a REGISTER's changes the database cannot take are kept in an in-memory overlay, one
 *   pending write per contact (the last one wins), which lookups apply on top of what the database
 *   said. A retry loop with back-off writes them when the database answers again, each only if the
 *   stored binding of that contact is not newer. While writes are pending, new ones join them, so
 *   they reach the database in the order they were made.
 * - Bounds: at most `maxPending` pending contacts; beyond that a REGISTER that would add one is
 *   refused (LocationOverlayFullError, answered 503) and an error line says so once per outage.
 * - Restarts: with a `journal` (locationJournal.ts), pending changes are also on local disk before
 *   the REGISTER is answered, and a new run starts with what the last one left pending.
 */
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { withDeadline, type ReadThroughCache } from './cache.ts';
import { isDatabaseUnreachable } from './errors.ts';
import type { LocationJournal } from './locationJournal.ts';
import type { ApplyOutcome, Binding, BindingChanges, LocationStore, PendingWrite, SqlLocationStore } from './registrations.ts';

export class LocationOverlayFullError extends Error {
  constructor(readonly maxPending: number) {
    super(`the database is unreachable and ${maxPending} registration changes already wait in memory`);
  }
}

export interface LocationOverlayOptions {
  /** The last rows read per account (TTL 0: consulted only when the database cannot be reached). */
  lastKnown: ReadThroughCache<Binding[]>;
  log: Logger;
  registry?: Registry;
  maxPending?: number;
  /** A write not answered within this is kept in memory like a refused one. */
  writeDeadlineMs?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Keeps pending changes across restarts; without one they live in memory only. */
  journal?: LocationJournal;
}

/** `rows` with `writes` applied (a contact's write replaces or removes its row), unexpired, oldest first. */
function withWrites(rows: readonly Binding[], writes: Iterable<PendingWrite>, now: number): Binding[] {
  const byContact = new Map(rows.map((b) => [b.contactHash, b]));
  for (const w of writes) {
    if (w.kind === 'remove') byContact.delete(w.binding.contactHash);
    else byContact.set(w.binding.contactHash, w.binding);
  }
  return [...byContact.values()].filter((b) => b.expiresAt > now).sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function writesOf(changes: BindingChanges, now: number): PendingWrite[] {
  return [
    ...changes.remove.map((binding): PendingWrite => ({ kind: 'remove', binding, at: now })),
    ...changes.upsert.map((binding): PendingWrite => ({ kind: 'upsert', binding })),
  ];
}

export class LocationOverlay implements LocationStore {
  /** Pending writes by account, then by contact. */
  private readonly pending = new Map<string, Map<string, PendingWrite>>();
  private pendingCount = 0;
  private readonly maxPending: number;
  private readonly writeDeadlineMs: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private failedFlushes = 0;
  private stopped = false;
  /** The current outage as seen by writes: since when, how many changes were deferred and dropped. */
  private outage: { since: number; deferred: number; refused: number; fullLogged: boolean; journalFailed: boolean } | undefined;
  private readonly metrics: { pending: Gauge; deferred: Counter; dropped: Counter<'reason'> } | undefined;

  constructor(
    private readonly sql: SqlLocationStore,
    private readonly o: LocationOverlayOptions,
  ) {
    this.maxPending = o.maxPending ?? 50_000;
    this.writeDeadlineMs = o.writeDeadlineMs ?? 3000;
    this.retryBaseMs = o.retryBaseMs ?? 250;
    this.retryMaxMs = o.retryMaxMs ?? 5000;
    const registers = o.registry ? [o.registry] : undefined;
    this.metrics = registers && {
      pending: new Gauge({ name: 'location_writes_pending', help: 'Registration changes held in memory until the database takes them', registers }),
      deferred: new Counter({ name: 'location_writes_deferred_total', help: 'Registration changes the database could not take at once (kept in memory)', registers }),
      dropped: new Counter({
        name: 'location_writes_dropped_total',
        help: 'Registration changes not kept: full (the in-memory bound was reached; REGISTER answered 503) or refused (the database refused the deferred write)',
        labelNames: ['reason'] as const,
        registers,
      }),
    };
    const leftover = o.journal?.leftover ?? [];
    if (leftover.length) {
      for (const w of leftover) this.addPending(w);
      // Their outage, as far as this run knows, lasts until they are stored.
      this.outage = { since: Date.now(), deferred: leftover.length, refused: 0, fullLogged: false, journalFailed: false };
      this.metrics?.pending.set(this.pendingCount);
      o.log.warn({ pending: this.pendingCount }, 'registration changes an earlier run could not store: served from memory and written when the database answers');
      this.scheduleFlush();
    }
  }

  /** Registration changes waiting for the database. */
  get pendingWrites(): number {
    return this.pendingCount;
  }

  async bindings(accountId: string, now: number): Promise<Binding[]> {
    let stored: Binding[];
    try {
      stored = await this.o.lastKnown.get(accountId, () => this.sql.bindings(accountId, now));
    } catch (err) {
      if (!isDatabaseUnreachable(err)) throw err;
      // Nothing read of this account yet: what this node was told during the outage is all there is.
      stored = [];
    }
    return withWrites(stored, this.pending.get(accountId)?.values() ?? [], now);
  }

  async apply(changes: BindingChanges, existing: ReadonlySet<string>): Promise<ApplyOutcome> {
    if (this.pendingCount === 0) {
      try {
        const outcome = await withDeadline(this.sql.apply(changes, existing), this.writeDeadlineMs, 'registration write');
        this.remember(writesOf(changes, Date.now()));
        return outcome;
      } catch (err) {
        if (!isDatabaseUnreachable(err)) throw err;
        this.noteOutage(err);
      }
    }
    const writes = writesOf(changes, Date.now());
    this.defer(writes);
    await this.journal(writes);
    return 'deferred';
  }

  purgeExpired(now: number, limit: number): Promise<number> {
    return this.sql.purgeExpired(now, limit);
  }

  countActive(now: number): Promise<number> {
    return this.sql.countActive(now);
  }

  /**
   * Deletes the bindings `nodeId` stored over connections of these transports: at start, those of
   * the previous run, whose connections are gone (server/sip/flowBindings.ts).
   */
  deleteOfNode(nodeId: string, transports: readonly string[]): Promise<number> {
    return this.sql.deleteOfNode(nodeId, transports);
  }

  /** Writes what is pending now; resolves when done or when the database still does not answer. */
  flush(): Promise<void> {
    this.flushing ??= this.writePending().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** Stops retrying after a last attempt (bounded by `waitMs`); what is still pending is logged, and stays in the journal if there is one. */
  async stop(waitMs = 5000): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    // A round under way (and its journal rewrite) finishes first, whether or not changes are left.
    if (this.pendingCount || this.flushing) await withDeadline(this.flush(), waitMs, 'last registration writes').catch(() => {});
    if (!this.pendingCount) return;
    if (this.o.journal) this.o.log.warn({ pending: this.pendingCount }, 'stopping with registration changes the database never took: they stay in the journal for the next start');
    else this.o.log.error({ pending: this.pendingCount }, 'stopping with registration changes the database never took: they are lost (phones re-register)');
  }

  private noteOutage(err: unknown): void {
    if (this.outage) return;
    this.outage = { since: Date.now(), deferred: 0, refused: 0, fullLogged: false, journalFailed: false };
    this.o.log.warn({ code: (err as { code?: string })?.code }, 'database unreachable: registrations are kept in memory and written when it answers');
  }

  private defer(writes: PendingWrite[]): void {
    this.noteOutage(undefined);
    const outage = this.outage!;
    const added = writes.filter((w) => !this.pending.get(w.binding.accountId)?.has(w.binding.contactHash)).length;
    if (this.pendingCount + added > this.maxPending) {
      outage.refused++;
      this.metrics?.dropped.inc({ reason: 'full' });
      if (!outage.fullLogged) {
        outage.fullLogged = true;
        this.o.log.error(
          { maxPending: this.maxPending },
          'registration changes waiting for the database reached their bound: REGISTERs that add contacts get 503 until it answers',
        );
      }
      throw new LocationOverlayFullError(this.maxPending);
    }
    for (const w of writes) this.addPending(w);
    outage.deferred += writes.length;
    this.metrics?.deferred.inc(writes.length);
    this.metrics?.pending.set(this.pendingCount);
    this.scheduleFlush();
  }

  /** The contact's pending change becomes `w` (the last one wins). */
  private addPending(w: PendingWrite): void {
    const b = w.binding;
    let account = this.pending.get(b.accountId);
    if (!account) this.pending.set(b.accountId, (account = new Map()));
    if (!account.has(b.contactHash)) this.pendingCount++;
    account.set(b.contactHash, w);
  }

  /** Puts deferred changes on disk; if the disk fails they stay in memory only (said once per outage). */
  private async journal(writes: PendingWrite[]): Promise<void> {
    try {
      await this.o.journal?.append(writes);
    } catch (err) {
      if (this.outage?.journalFailed) return;
      if (this.outage) this.outage.journalFailed = true;
      this.o.log.error({ err }, 'cannot write the registration journal: changes kept during this outage are in memory only and lost if the switch stops');
    }
  }

  /** What the journal should hold after a round of writes: the changes still pending. */
  private async shrinkJournal(): Promise<void> {
    await this.o.journal
      ?.rewrite(() => [...this.pending.values()].flatMap((writes) => [...writes.values()]))
      .catch((err: unknown) => this.o.log.warn({ err }, 'cannot rewrite the registration journal: stored changes stay in it and are written again (as no-ops) at the next start'));
  }

  /** Keeps the last rows read of an account in step with what this node wrote since. */
  private remember(writes: PendingWrite[]): void {
    const now = Date.now();
    for (const accountId of new Set(writes.map((w) => w.binding.accountId))) {
      this.o.lastKnown.update(accountId, (rows) =>
        withWrites(
          rows,
          writes.filter((w) => w.binding.accountId === accountId),
          now,
        ),
      );
    }
  }

  private scheduleFlush(): void {
    if (this.timer || this.stopped) return;
    const backoff = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** this.failedFlushes);
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        void this.flush();
      },
      backoff * (0.75 + Math.random() * 0.5),
    );
    this.timer.unref();
  }

  private async writePending(): Promise<void> {
    for (const [accountId, writes] of this.pending) {
      for (const [contact, w] of writes) {
        try {
          await this.sql.writeIfNewer(w);
        } catch (err) {
          if (isDatabaseUnreachable(err)) {
            this.failedFlushes++;
            this.scheduleFlush();
            return;
          }
          this.metrics?.dropped.inc({ reason: 'refused' });
          this.o.log.error(
            { err, tenantId: w.binding.tenantId, accountId, contact: w.binding.contactUri, change: w.kind },
            'the database refused a registration change kept during its outage: dropped',
          );
        }
        // A newer change of the same contact, made meanwhile, stays for the next round.
        if (writes.get(contact) === w) {
          writes.delete(contact);
          this.pendingCount--;
          this.remember([w]);
        }
      }
      if (!writes.size) this.pending.delete(accountId);
    }
    this.metrics?.pending.set(this.pendingCount);
    this.failedFlushes = 0;
    await this.shrinkJournal();
    if (this.pendingCount) {
      this.scheduleFlush();
      return;
    }
    if (this.outage) {
      const { since, deferred, refused } = this.outage;
      this.o.log.info({ deferred, refusedWhenFull: refused, outageMs: Date.now() - since }, 'database answers again: registration changes kept in memory are stored');
      this.outage = undefined;
    }
  }
}
