/**
 * Call records (CDRs): one row per call, written in batches by the CDR writer (server/cdr/), read
 * per tenant newest first with keyset pagination, purged in small batches.
 */
import { type Expression, type ExpressionBuilder, type Kysely, type Selectable, type SqlBool } from 'kysely';
import type { Cdr, CdrDirection, CdrLeg, CdrLogLine, CdrStatus, CdrSummary, HangupSide } from '../domain/cdr.ts';
import type { Database } from './schema.ts';
import { searchableNumbers } from './cdrNumbers.ts';
import { callQualityByHour, callQualityColumns, callStatsByHour, type QualityColumns } from './callStats.ts';
import type { CallQualityHour, CallStatsHour } from '../../contract/callStats.ts';

/** With the media quality in columns, for the dashboard's sums (callStats.ts). */
export interface CdrsTable extends QualityColumns {
  id: string;
  tenant_id: string;
  call_id: string;
  node_id: string;
  started_at: number;
  ringing_at: number | null;
  answered_at: number | null;
  ended_at: number;
  ring_ms: number | null;
  talk_ms: number;
  direction: string;
  caller: string;
  callee: string;
  /** The dialled targets, space-separated with a space at each end, so that `% t %` matches one. */
  dialled: string;
  account: string | null;
  provider: string | null;
  status: string;
  sip_status: number | null;
  hangup_cause: string | null;
  hangup_by: string | null;
  dialplan_name: string | null;
  dialplan_version: number | null;
  dialplan_outcome: string | null;
  /** JSON: CdrLeg[]. */
  legs: string;
  /** JSON: CdrLogLine[]. */
  log: string;
}

interface CdrNumbersTable {
  tenant_id: string;
  number: string;
  started_at: number;
  cdr_id: string;
}

type Tables = Database & { cdrs: CdrsTable; cdr_numbers: CdrNumbersTable };
type Db = Kysely<Tables>;
type Eb = ExpressionBuilder<Tables, 'cdrs'>;

export interface CdrFilter {
  /** Inclusive, epoch ms. */
  from?: number;
  /** Exclusive, epoch ms. */
  to?: number;
  /** Equals the caller or the callee, or one dialled target or its user part (`0123` of `0123@trunk`). */
  number?: string;
  /** A disposition, or the SIP status the caller got. */
  status?: CdrStatus | number;
}

export interface CdrPage {
  items: CdrSummary[];
  nextCursor: string | null;
}

export class InvalidCursorError extends Error {
  constructor() {
    super('not a cursor returned by this API');
  }
}

export interface PurgeOptions {
  /** Rows per DELETE: small, so no statement holds its locks for long. */
  batchSize?: number;
  /** Pause between batches, leaving the database to other writers. */
  pauseMs?: number;
  signal?: AbortSignal;
  onBatch?: (deleted: number) => void;
}

const clamp = (s: string, n: number) => (s.length > n ? s.slice(0, n) : s);
const clampOrNull = (s: string | null | undefined, n: number) => (s == null ? null : clamp(s, n));

/** Column sizes are enforced here so that no record can fail to insert (and block the writer) for its contents. */
function toRow(c: Cdr): CdrsTable {
  return {
    id: c.id,
    tenant_id: c.tenantId,
    call_id: c.callId,
    node_id: clamp(c.nodeId, 100),
    started_at: c.startedAt,
    ringing_at: c.ringingAt,
    answered_at: c.answeredAt,
    ended_at: c.endedAt,
    ring_ms: c.ringMs,
    talk_ms: c.talkMs,
    direction: c.direction,
    caller: clamp(c.caller, 255),
    callee: clamp(c.callee, 255),
    dialled: clamp(` ${c.dialled.join(' ')} `, 1024),
    account: clampOrNull(c.account, 64),
    provider: clampOrNull(c.provider, 64),
    status: c.status,
    sip_status: c.sipStatus,
    hangup_cause: clampOrNull(c.hangupCause, 32),
    hangup_by: c.hangupBy,
    dialplan_name: clampOrNull(c.dialplan?.name, 64),
    dialplan_version: c.dialplan?.version ?? null,
    dialplan_outcome: clampOrNull(c.dialplan?.outcome, 255),
    legs: JSON.stringify(c.legs),
    log: JSON.stringify(c.log),
    ...callQualityColumns(c.legs),
  };
}

const nullableNumber = (v: number | null) => (v == null ? null : Number(v));

function toSummary(r: Omit<Selectable<CdrsTable>, 'legs' | 'log' | keyof ReturnType<typeof callQualityColumns>>): CdrSummary {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    callId: r.call_id,
    nodeId: r.node_id,
    direction: r.direction as CdrDirection,
    caller: r.caller,
    callee: r.callee,
    dialled: r.dialled.split(' ').filter(Boolean),
    account: r.account,
    provider: r.provider,
    startedAt: Number(r.started_at),
    ringingAt: nullableNumber(r.ringing_at),
    answeredAt: nullableNumber(r.answered_at),
    endedAt: Number(r.ended_at),
    ringMs: nullableNumber(r.ring_ms),
    talkMs: Number(r.talk_ms),
    status: r.status as CdrStatus,
    sipStatus: nullableNumber(r.sip_status),
    hangupCause: r.hangup_cause,
    hangupBy: r.hangup_by as HangupSide | null,
    dialplan: r.dialplan_name == null ? null : { name: r.dialplan_name, version: r.dialplan_version, outcome: r.dialplan_outcome },
  };
}

const SUMMARY_COLUMNS = [
  'id',
  'tenant_id',
  'call_id',
  'node_id',
  'started_at',
  'ringing_at',
  'answered_at',
  'ended_at',
  'ring_ms',
  'talk_ms',
  'direction',
  'caller',
  'callee',
  'dialled',
  'account',
  'provider',
  'status',
  'sip_status',
  'hangup_cause',
  'hangup_by',
  'dialplan_name',
  'dialplan_version',
  'dialplan_outcome',
] as const;

function pageOf(rows: Array<Parameters<typeof toSummary>[0]>, limit: number): CdrPage {
  const items = rows.slice(0, limit).map(toSummary);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.startedAt, last.id) : null };
}

/** The cursor names the last row of a page; it is opaque to clients (base64url of JSON). */
export function encodeCursor(startedAt: number, id: string): string {
  return Buffer.from(JSON.stringify([startedAt, id])).toString('base64url');
}

export function decodeCursor(cursor: string): { startedAt: number; id: string } {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && Number.isSafeInteger(v[0]) && typeof v[1] === 'string' && v[1].length <= 36) {
      return { startedAt: v[0] as number, id: v[1] };
    }
  } catch {
    /* falls through */
  }
  throw new InvalidCursorError();
}

function filterConditions(eb: Eb, f: CdrFilter): Expression<SqlBool>[] {
  const and: Expression<SqlBool>[] = [];
  if (f.from !== undefined) and.push(eb('started_at', '>=', f.from));
  if (f.to !== undefined) and.push(eb('started_at', '<', f.to));
  if (typeof f.status === 'number') and.push(eb('sip_status', '=', f.status));
  else if (f.status) and.push(eb('status', '=', f.status));
  return and;
}

async function purge(db: Db, cutoff: number, tenantId: string | undefined, o: PurgeOptions): Promise<number> {
  const batchSize = o.batchSize ?? 1000;
  let total = 0;
  while (!o.signal?.aborted) {
    let q = db.selectFrom('cdrs').select(['id', 'call_id']).where('started_at', '<', cutoff);
    if (tenantId !== undefined) q = q.where('tenant_id', '=', tenantId);
    const rows = await q.orderBy('started_at').limit(batchSize).execute();
    const ids = rows.map((r) => r.id);
    if (!ids.length) break;
    await db.transaction().execute(async (trx) => {
      await trx.deleteFrom('cdr_numbers').where('cdr_id', 'in', ids).execute();
      // A call's SIP messages go with its record.
      await trx
        .deleteFrom('call_traces')
        .where(
          'call_id',
          'in',
          rows.map((r) => r.call_id),
        )
        .execute();
      const d = trx.deleteFrom('cdrs').where('id', 'in', ids).where('started_at', '<', cutoff);
      await (tenantId === undefined ? d : d.where('tenant_id', '=', tenantId)).execute();
    });
    total += ids.length;
    o.onBatch?.(ids.length);
    if (ids.length < batchSize) break;
    await new Promise((r) => setTimeout(r, o.pauseMs ?? 20));
  }
  return total;
}

/** Cross-tenant operations: the writer's batch insert and the global retention purge. */
export class CdrArchive {
  private readonly db: Db;

  constructor(db: Kysely<Database>) {
    this.db = db.withTables<{ cdrs: CdrsTable; cdr_numbers: CdrNumbersTable }>();
  }

  /**
   * Inserts records in one transaction. A record already stored is skipped, so a batch whose commit
   * succeeded but whose answer was lost can be retried as a whole.
   */
  async insert(records: readonly Cdr[], rowsPerStatement = 500): Promise<void> {
    if (!records.length) return;
    await this.db.transaction().execute(async (trx) => {
      for (let i = 0; i < records.length; i += rowsPerStatement) {
        const slice = records.slice(i, i + rowsPerStatement);
        await trx.insertInto('cdrs').values(slice.map(toRow)).orIgnore().execute();
        const numbers = slice.flatMap((c) =>
          searchableNumbers(c.caller, c.callee, c.dialled).map((number) => ({ tenant_id: c.tenantId, number, started_at: c.startedAt, cdr_id: c.id })),
        );
        if (numbers.length) await trx.insertInto('cdr_numbers').values(numbers).orIgnore().execute();
      }
    });
  }

  /** Deletes every tenant's records that started before `cutoff`, in batches; returns how many. */
  purgeOlderThan(cutoff: number, o: PurgeOptions = {}): Promise<number> {
    return purge(this.db, cutoff, undefined, o);
  }
}

/** One tenant's call records. */
export class TenantCdrs {
  private readonly db: Db;

  constructor(
    db: Kysely<Database>,
    private readonly tenantId: string,
  ) {
    this.db = db.withTables<{ cdrs: CdrsTable; cdr_numbers: CdrNumbersTable }>();
  }

  /** Calls per hour in [from, to), for the dashboard's charts. */
  hourlyStats(from: number, to: number): Promise<CallStatsHour[]> {
    return callStatsByHour(this.db, this.tenantId, from, to);
  }

  /** Media quality of the answered calls per hour in [from, to), for the dashboard. */
  hourlyQuality(from: number, to: number): Promise<CallQualityHour[]> {
    return callQualityByHour(this.db, this.tenantId, from, to);
  }

  /** Newest first. Throws InvalidCursorError for a cursor this API did not make. */
  async list(filter: CdrFilter, page: { limit: number; cursor?: string }): Promise<CdrPage> {
    const after = page.cursor ? decodeCursor(page.cursor) : undefined;
    if (filter.number) return this.listByNumber(filter.number, filter, page.limit, after);
    const rows = await this.db
      .selectFrom('cdrs')
      .select(SUMMARY_COLUMNS)
      .where((eb) => {
        const and = [eb('tenant_id', '=', this.tenantId), ...filterConditions(eb, filter)];
        // The redundant `<=` gives the optimiser a range on the index (MariaDB scanned from the top without it).
        if (after) {
          and.push(eb('started_at', '<=', after.startedAt), eb.or([eb('started_at', '<', after.startedAt), eb('id', '<', after.id)]));
        }
        return eb.and(and);
      })
      .orderBy('started_at', 'desc')
      .orderBy('id', 'desc')
      .limit(page.limit + 1)
      .execute();
    return pageOf(rows, page.limit);
  }

  /** Driven from the numbers index: newest first among this number's records, then the other filters. */
  private async listByNumber(number: string, filter: CdrFilter, limit: number, after?: { startedAt: number; id: string }): Promise<CdrPage> {
    const rows = await this.db
      .selectFrom('cdr_numbers as n')
      .innerJoin('cdrs', 'cdrs.id', 'n.cdr_id')
      .select(SUMMARY_COLUMNS.map((c) => `cdrs.${c}` as const))
      .where((eb) => {
        const and = [eb('n.tenant_id', '=', this.tenantId), eb('n.number', '=', number), eb('cdrs.tenant_id', '=', this.tenantId)];
        if (filter.from !== undefined) and.push(eb('n.started_at', '>=', filter.from));
        if (filter.to !== undefined) and.push(eb('n.started_at', '<', filter.to));
        if (typeof filter.status === 'number') and.push(eb('cdrs.sip_status', '=', filter.status));
        else if (filter.status) and.push(eb('cdrs.status', '=', filter.status));
        if (after) {
          and.push(eb('n.started_at', '<=', after.startedAt), eb.or([eb('n.started_at', '<', after.startedAt), eb('n.cdr_id', '<', after.id)]));
        }
        return eb.and(and);
      })
      .orderBy('n.started_at', 'desc')
      .orderBy('n.cdr_id', 'desc')
      .limit(limit + 1)
      .execute();
    return pageOf(rows, limit);
  }

  /** The ids of the records of these calls (by the switch's call id), for those already written. */
  async idsByCallId(callIds: readonly string[]): Promise<Map<string, string>> {
    if (!callIds.length) return new Map();
    const rows = await this.db
      .selectFrom('cdrs')
      .select(['id', 'call_id'])
      .where('tenant_id', '=', this.tenantId)
      .where('call_id', 'in', [...new Set(callIds)])
      .execute();
    return new Map(rows.map((r) => [r.call_id, r.id]));
  }

  async get(id: string): Promise<Cdr | undefined> {
    const r = await this.db.selectFrom('cdrs').selectAll().where('tenant_id', '=', this.tenantId).where('id', '=', id).executeTakeFirst();
    return r && { ...toSummary(r), legs: JSON.parse(r.legs) as CdrLeg[], log: JSON.parse(r.log) as CdrLogLine[] };
  }

  /** Deletes this tenant's records that started before `cutoff`, in batches; returns how many. */
  purgeOlderThan(cutoff: number, o: PurgeOptions = {}): Promise<number> {
    return purge(this.db, cutoff, this.tenantId, o);
  }
}
