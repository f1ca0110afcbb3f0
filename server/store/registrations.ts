import type { Kysely, Selectable } from 'kysely';
import { InvalidCursorError } from './cdrs.ts';
import { isUniqueViolation, retryOnConflict } from './errors.ts';
import type { Database, RegistrationsTable } from './schema.ts';

/** One contact bound to a SIP account (RFC 3261 §10.3). */
export interface Binding {
  id: string;
  tenantId: string;
  accountId: string;
  contactHash: string;
  contactUri: string;
  callId: string;
  cseq: number;
  expiresAt: number;
  sourceIp: string;
  sourcePort: number;
  transport: string;
  userAgent: string | null;
  algorithm: string;
  nodeId: string;
  /** The Path (RFC 3327) the REGISTER came through: requests to the phone go along it. */
  path?: string[];
  createdAt: number;
  updatedAt: number;
}

export interface BindingChanges {
  /** Bindings to insert (new id) or overwrite (existing id). */
  upsert: Binding[];
  /** Bindings to delete. */
  remove: Binding[];
}

/** One binding change kept for later (the database was unreachable); the last per contact wins. */
export type PendingWrite = { kind: 'upsert'; binding: Binding } | { kind: 'remove'; binding: Binding; at: number };

/**
 * `stored`: in the database. `deferred`: the database could not be reached; the change is served
 * from memory and written when it answers again (locationOverlay.ts).
 */
export type ApplyOutcome = 'stored' | 'deferred';

/** What the registrar needs from storage; swappable (memory, SQL) and testable alone. */
export interface LocationStore {
  /** Unexpired bindings of an account, oldest first. */
  bindings(accountId: string, now: number): Promise<Binding[]>;
  /** Applies one REGISTER's changes atomically. `existing` are the ids that are already stored. */
  apply(changes: BindingChanges, existing: ReadonlySet<string>): Promise<ApplyOutcome>;
  /** Deletes up to `limit` expired bindings; returns how many. */
  purgeExpired(now: number, limit: number): Promise<number>;
  countActive(now: number): Promise<number>;
}

function toBinding(r: Selectable<RegistrationsTable>): Binding {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    accountId: r.account_id,
    contactHash: r.contact_hash,
    contactUri: r.contact_uri,
    callId: r.call_id,
    cseq: Number(r.cseq),
    expiresAt: Number(r.expires_at),
    sourceIp: r.source_ip,
    sourcePort: r.source_port,
    transport: r.transport,
    userAgent: r.user_agent,
    algorithm: r.algorithm,
    nodeId: r.node_id,
    ...(r.path ? { path: JSON.parse(r.path) as string[] } : {}),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function toRow(b: Binding): RegistrationsTable {
  return {
    id: b.id,
    tenant_id: b.tenantId,
    account_id: b.accountId,
    contact_hash: b.contactHash,
    contact_uri: b.contactUri,
    call_id: b.callId,
    cseq: b.cseq,
    expires_at: b.expiresAt,
    source_ip: b.sourceIp,
    source_port: b.sourcePort,
    transport: b.transport,
    user_agent: b.userAgent,
    algorithm: b.algorithm,
    node_id: b.nodeId,
    path: b.path?.length ? JSON.stringify(b.path) : null,
    created_at: b.createdAt,
    updated_at: b.updatedAt,
  };
}

/**
 * One REGISTER's changes. Statements touch rows by primary key or insert: they never lock ranges of
 * absent rows, on which concurrent first registrations used to deadlock (InnoDB gap locks).
 */
async function writeBindings(db: Kysely<Database>, changes: BindingChanges, existing: ReadonlySet<string>): Promise<void> {
  if (changes.remove.length)
    await db
      .deleteFrom('registrations')
      .where(
        'id',
        'in',
        changes.remove.map((b) => b.id),
      )
      .execute();
  for (const b of changes.upsert) {
    const row = toRow(b);
    if (existing.has(b.id)) {
      const { id, created_at, ...rest } = row;
      await db.updateTable('registrations').set(rest).where('id', '=', id).execute();
      continue;
    }
    try {
      await db.insertInto('registrations').values(row).execute();
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      // An expired binding of the same contact that the sweeper has not removed yet.
      await db.deleteFrom('registrations').where('account_id', '=', b.accountId).where('contact_hash', '=', b.contactHash).execute();
      await db.insertInto('registrations').values(row).execute();
    }
  }
}

export class SqlLocationStore implements LocationStore {
  constructor(private readonly db: Kysely<Database>) {}

  async bindings(accountId: string, now: number): Promise<Binding[]> {
    const rows = await this.db
      .selectFrom('registrations')
      .selectAll()
      .where('account_id', '=', accountId)
      .where('expires_at', '>', now)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toBinding);
  }

  async apply(changes: BindingChanges, existing: ReadonlySet<string>): Promise<ApplyOutcome> {
    // The common REGISTER (one refresh or one new contact) is one statement: no transaction needed.
    // (Grouping REGISTERs into shared transactions was measured slower on SQLite: Kysely holds its
    // one connection for the whole batch, so the reads of every other REGISTER wait behind it.)
    const statements = changes.upsert.length + (changes.remove.length ? 1 : 0);
    if (statements === 0) return 'stored';
    await retryOnConflict(() => (statements === 1 ? writeBindings(this.db, changes, existing) : this.db.transaction().execute((trx) => writeBindings(trx, changes, existing))));
    return 'stored';
  }

  /**
   * Writes a change kept while the database was unreachable, unless the stored binding of that
   * contact is newer (a later REGISTER, possibly at another node): the last write per contact wins.
   */
  async writeIfNewer(change: PendingWrite): Promise<void> {
    const b = change.binding;
    if (change.kind === 'remove') {
      await this.db.deleteFrom('registrations').where('account_id', '=', b.accountId).where('contact_hash', '=', b.contactHash).where('updated_at', '<=', change.at).execute();
      return;
    }
    await retryOnConflict(() =>
      this.db.transaction().execute(async (trx) => {
        const stored = await trx
          .selectFrom('registrations')
          .select(['id', 'updated_at'])
          .where('account_id', '=', b.accountId)
          .where('contact_hash', '=', b.contactHash)
          .executeTakeFirst();
        if (stored && Number(stored.updated_at) > b.updatedAt) return;
        if (stored) await trx.deleteFrom('registrations').where('id', '=', stored.id).execute();
        await trx.insertInto('registrations').values(toRow(b)).execute();
      }),
    );
  }

  async purgeExpired(now: number, limit: number): Promise<number> {
    const ids = await this.db.selectFrom('registrations').select('id').where('expires_at', '<=', now).limit(limit).execute();
    if (!ids.length) return 0;
    await this.db
      .deleteFrom('registrations')
      .where(
        'id',
        'in',
        ids.map((r) => r.id),
      )
      .where('expires_at', '<=', now)
      .execute();
    return ids.length;
  }

  /** Deletes the bindings `nodeId` stored over these transports (a previous run's connections); returns how many. */
  async deleteOfNode(nodeId: string, transports: readonly string[]): Promise<number> {
    const r = await this.db.deleteFrom('registrations').where('node_id', '=', nodeId).where('transport', 'in', transports).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async countActive(now: number): Promise<number> {
    const r = await this.db
      .selectFrom('registrations')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('expires_at', '>', now)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }
}

export interface RegistrationView extends Binding {
  username: string;
}

export interface RegistrationPage {
  items: RegistrationView[];
  nextCursor: string | null;
}

export interface RegistrationSummary {
  /** Live bindings of enabled accounts. */
  bindings: number;
  /** Enabled accounts with at least one live binding. */
  registeredAccounts: number;
}

/** The cursor names the last binding of a page (base64url of JSON `[accountId, id]`); opaque to clients. */
const encodeCursor = (b: Binding) => Buffer.from(JSON.stringify([b.accountId, b.id])).toString('base64url');

function decodeCursor(cursor: string): { accountId: string; id: string } {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'string' && x.length <= 36)) return { accountId: v[0] as string, id: v[1] as string };
  } catch {
    /* falls through */
  }
  throw new InvalidCursorError();
}

/**
 * One tenant's current bindings, for the API: keyset-paged in (account, binding) order, which is
 * the order accounts were created in (ids are time-ordered), each account's phones oldest first.
 */
export class TenantRegistrations {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly tenantId: string,
  ) {}

  private live(now: number) {
    return this.db
      .selectFrom('registrations')
      .innerJoin('sip_accounts', 'sip_accounts.id', 'registrations.account_id')
      .where('registrations.tenant_id', '=', this.tenantId)
      .where('sip_accounts.tenant_id', '=', this.tenantId)
      .where('registrations.expires_at', '>', now);
  }

  /** Every live binding of the tenant (the dialplan simulator's snapshot); the API pages instead. */
  async list(now: number, accountId?: string): Promise<RegistrationView[]> {
    let q = this.live(now).selectAll('registrations').select('sip_accounts.username');
    if (accountId) q = q.where('registrations.account_id', '=', accountId);
    const rows = await q.orderBy('registrations.account_id').orderBy('registrations.id').execute();
    return rows.map((r) => ({ ...toBinding(r), username: r.username }));
  }

  /** Throws InvalidCursorError for a cursor this API did not make. */
  async page(now: number, o: { accountIds?: readonly string[]; limit: number; cursor?: string }): Promise<RegistrationPage> {
    const after = o.cursor ? decodeCursor(o.cursor) : undefined;
    let q = this.live(now).selectAll('registrations').select('sip_accounts.username');
    if (o.accountIds?.length) q = q.where('registrations.account_id', 'in', o.accountIds);
    if (after) {
      // The redundant `>=` gives the optimiser a range on the index.
      q = q
        .where('registrations.account_id', '>=', after.accountId)
        .where((eb) => eb.or([eb('registrations.account_id', '>', after.accountId), eb('registrations.id', '>', after.id)]));
    }
    const rows = await q
      .orderBy('registrations.account_id')
      .orderBy('registrations.id')
      .limit(o.limit + 1)
      .execute();
    const items = rows.slice(0, o.limit).map((r) => ({ ...toBinding(r), username: r.username }));
    const last = items.at(-1);
    return { items, nextCursor: rows.length > o.limit && last ? encodeCursor(last) : null };
  }

  async summary(now: number): Promise<RegistrationSummary> {
    const r = await this.live(now)
      .where('sip_accounts.enabled', '=', 1)
      .select((eb) => [eb.fn.countAll<number>().as('bindings'), eb.fn.count<number>('registrations.account_id').distinct().as('accounts')])
      .executeTakeFirstOrThrow();
    return { bindings: Number(r.bindings), registeredAccounts: Number(r.accounts) };
  }
}
