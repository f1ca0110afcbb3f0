/**
 * Calls per hour for the dashboard's charts, from the tenant's call records: counts and talk time
 * grouped in SQL (portable: the hour is started_at less its remainder), the peak of calls in
 * progress by a sweep over the period's start and end times (bounded: a tenant's busiest periods
 * stay far below it; past it the peaks count what was read).
 */
import { sql, type Kysely } from 'kysely';
import type { CallQualityHour, CallQualitySums, CallStatsHour } from '../../contract/callStats.ts';
import type { LegQuality } from '../../contract/calls.ts';

const HOUR_MS = 3_600_000;
/** Records swept for the peaks of one request. */
const SWEEP_LIMIT = 200_000;

type CdrTimes = { cdrs: { tenant_id: string; started_at: number; ended_at: number; status: string; talk_ms: number } };

/** Called through TenantCdrs.hourlyStats, which supplies the tenant. */
export async function callStatsByHour<DB extends CdrTimes>(db: Kysely<DB>, tenantId: string, from: number, to: number): Promise<CallStatsHour[]> {
  const k = db as unknown as Kysely<CdrTimes>;
  const hourOf = sql<number>`started_at - (started_at % ${HOUR_MS})`;
  const grouped = await k
    .selectFrom('cdrs')
    .select([
      hourOf.as('hour'),
      (eb) => eb.fn.countAll<number>().as('calls'),
      sql<number>`sum(case when status = 'answered' then 1 else 0 end)`.as('answered'),
      sql<number>`sum(talk_ms)`.as('talk_ms'),
    ])
    .where('tenant_id', '=', tenantId)
    .where('started_at', '>=', from)
    .where('started_at', '<', to)
    .groupBy(hourOf)
    .execute();
  const hours = new Map<number, CallStatsHour>();
  for (const g of grouped) {
    const hour = Number(g.hour);
    hours.set(hour, { hour, calls: Number(g.calls), answered: Number(g.answered), talkMs: Number(g.talk_ms ?? 0), peakConcurrent: 0 });
  }
  // Calls that overlap the period, started a little before it included.
  const spans = await k
    .selectFrom('cdrs')
    .select(['started_at', 'ended_at'])
    .where('tenant_id', '=', tenantId)
    .where('started_at', '<', to)
    .where('ended_at', '>=', from)
    .limit(SWEEP_LIMIT)
    .execute();
  const edges = spans.flatMap((s) => [
    { at: Number(s.started_at), d: 1 },
    { at: Number(s.ended_at), d: -1 },
  ]);
  edges.sort((a, b) => a.at - b.at || a.d - b.d);
  let now = 0;
  for (const e of edges) {
    now += e.d;
    if (e.d < 0 || e.at < from || e.at >= to) continue;
    const hour = e.at - (e.at % HOUR_MS);
    const h = hours.get(hour) ?? { hour, calls: 0, answered: 0, talkMs: 0, peakConcurrent: 0 };
    h.peakConcurrent = Math.max(h.peakConcurrent, now);
    hours.set(hour, h);
  }
  return [...hours.values()].sort((a, b) => a.hour - b.hour);
}

/** The call record's media quality columns (in `cdrs`), written by callQualityColumns and summed per hour. */
export type QualityColumns = {
  audio_both_ways: number | null;
  caller_packets: number | null;
  caller_lost: number | null;
  caller_jitter_ms: number | null;
  callee_packets: number | null;
  callee_lost: number | null;
  callee_jitter_ms: number | null;
};

/** A leg as the quality columns read it: its answer time and the relay's figures. */
interface MeasuredLeg {
  direction: 'inbound' | 'outbound';
  answeredAt?: number;
  media?: { quality: LegQuality | null };
}

/**
 * A call record's quality columns from its legs: audio both ways when every answered leg the relay
 * measured had it flowing from and to its phone; the caller side is the first inbound leg, the
 * callee side the first answered outbound leg (the one that won a fork).
 */
export function callQualityColumns(legs: readonly MeasuredLeg[]): QualityColumns {
  const measured = legs.filter((l) => l.answeredAt !== undefined && l.media?.quality);
  const caller = legs.find((l) => l.direction === 'inbound')?.media?.quality ?? null;
  const callee = legs.find((l) => l.direction === 'outbound' && l.answeredAt !== undefined)?.media?.quality ?? null;
  return {
    audio_both_ways: measured.length ? (measured.every((l) => l.media!.quality!.flowing.fromPhone && l.media!.quality!.flowing.toPhone) ? 1 : 0) : null,
    caller_packets: caller?.fromPhone.packets ?? null,
    caller_lost: caller?.fromPhone.lost ?? null,
    caller_jitter_ms: caller?.fromPhone.jitterMs ?? null,
    callee_packets: callee?.fromPhone.packets ?? null,
    callee_lost: callee?.fromPhone.lost ?? null,
    callee_jitter_ms: callee?.fromPhone.jitterMs ?? null,
  };
}

type CdrQuality = { cdrs: CdrTimes['cdrs'] & QualityColumns };

/** Called through TenantCdrs.hourlyQuality, which supplies the tenant: answered calls only, sums per hour in SQL. */
export async function callQualityByHour<DB extends CdrQuality>(db: Kysely<DB>, tenantId: string, from: number, to: number): Promise<CallQualityHour[]> {
  const k = db as unknown as Kysely<CdrQuality>;
  const hourOf = sql<number>`started_at - (started_at % ${HOUR_MS})`;
  const side = (s: 'caller' | 'callee') => {
    const packets = sql.ref(`${s}_packets`);
    const lost = sql.ref(`${s}_lost`);
    const jitter = sql.ref(`${s}_jitter_ms`);
    return [
      sql<number>`count(${packets})`.as(`${s}_legs`),
      sql<number>`sum(${packets})`.as(`${s}_packets`),
      sql<number>`sum(${lost})`.as(`${s}_lost`),
      sql<number>`sum(case when ${lost} is not null then ${packets} else 0 end)`.as(`${s}_loss_packets`),
      sql<number>`sum(${jitter})`.as(`${s}_jitter_sum`),
      sql<number>`count(${jitter})`.as(`${s}_jitter_legs`),
    ];
  };
  const rows = await k
    .selectFrom('cdrs')
    .select([
      hourOf.as('hour'),
      (eb) => eb.fn.countAll<number>().as('answered'),
      sql<number>`count(audio_both_ways)`.as('measured'),
      sql<number>`sum(audio_both_ways)`.as('both_ways'),
      ...side('caller'),
      ...side('callee'),
    ])
    .where('tenant_id', '=', tenantId)
    .where('started_at', '>=', from)
    .where('started_at', '<', to)
    .where('status', '=', 'answered')
    .groupBy(hourOf)
    .orderBy(hourOf)
    .execute();
  const n = (v: unknown) => (v == null ? 0 : Number(v));
  return rows.map((r) => {
    const row = r as Record<string, unknown>;
    const sums = (s: 'caller' | 'callee'): CallQualitySums => ({
      legs: n(row[`${s}_legs`]),
      packets: n(row[`${s}_packets`]),
      lost: n(row[`${s}_lost`]),
      lossPackets: n(row[`${s}_loss_packets`]),
      jitterMsSum: n(row[`${s}_jitter_sum`]),
      jitterLegs: n(row[`${s}_jitter_legs`]),
    });
    return { hour: n(r.hour), answered: n(r.answered), measured: n(r.measured), bothWays: n(r.both_ways), caller: sums('caller'), callee: sums('callee') };
  });
}
