/**
 * Calls per hour for the dashboard's charts, from the tenant's call records: counts and talk time
 * grouped in SQL (portable: the hour is started_at less its remainder), the peak of calls in
 * progress by a sweep over the period's start and end times (bounded: a tenant's busiest periods
 * stay far below it; past it the peaks count what was read).
 */
import { sql, type Kysely } from 'kysely';
import type { CallStatsHour } from '../../contract/callStats.ts';

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
