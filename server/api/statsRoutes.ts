/**
 * `GET /stats/calls?from&to` (epoch ms or ISO 8601; default the last 24 hours, at most 31 days):
 * calls per hour. `GET /stats/quality?from&to` (the same period): the media quality of the answered
 * calls, per hour and for the whole period.
 */
import { Router } from 'express';
import { z } from 'zod';
import type { CallQualityHour, CallQualitySums, CallQualityView, CallStatsView } from '../../contract/callStats.ts';
import { HttpError, parse } from './errors.ts';
import { scopeOf } from './session.ts';

const DAY_MS = 86_400_000;
const MAX_DAYS = 31;
const instant = z.union([z.coerce.number().int().nonnegative(), z.iso.datetime({ offset: true }).transform((s) => Date.parse(s))]);
const query = z.strictObject({ from: instant.optional(), to: instant.optional() });

function periodOf(raw: unknown): { from: number; to: number } {
  const q = parse(query, raw);
  const to = q.to ?? Date.now();
  const from = q.from ?? to - DAY_MS;
  if (from >= to) throw new HttpError(400, 'from: must be before to', 'from');
  if (to - from > MAX_DAYS * DAY_MS) throw new HttpError(400, `from: a period is at most ${MAX_DAYS} days`, 'from');
  return { from, to };
}

const addSums = (a: CallQualitySums, b: CallQualitySums): CallQualitySums => ({
  legs: a.legs + b.legs,
  packets: a.packets + b.packets,
  lost: a.lost + b.lost,
  lossPackets: a.lossPackets + b.lossPackets,
  jitterMsSum: a.jitterMsSum + b.jitterMsSum,
  jitterLegs: a.jitterLegs + b.jitterLegs,
});
const NO_SUMS: CallQualitySums = { legs: 0, packets: 0, lost: 0, lossPackets: 0, jitterMsSum: 0, jitterLegs: 0 };

/** The period's figures: the hours' sums added up (sums, not averages, so they add exactly). */
function totalOf(hours: CallQualityHour[]): CallQualityView['total'] {
  return hours.reduce<CallQualityView['total']>(
    (t, h) => ({
      answered: t.answered + h.answered,
      measured: t.measured + h.measured,
      bothWays: t.bothWays + h.bothWays,
      caller: addSums(t.caller, h.caller),
      callee: addSums(t.callee, h.callee),
    }),
    { answered: 0, measured: 0, bothWays: 0, caller: NO_SUMS, callee: NO_SUMS },
  );
}

export function statsRoutes(): Router {
  const r = Router();
  r.get('/calls', async (req, res) => {
    const { from, to } = periodOf(req.query);
    const view: CallStatsView = { from, to, hours: await scopeOf(req).cdrs.hourlyStats(from, to) };
    res.json(view);
  });
  r.get('/quality', async (req, res) => {
    const { from, to } = periodOf(req.query);
    const hours = await scopeOf(req).cdrs.hourlyQuality(from, to);
    const view: CallQualityView = { from, to, hours, total: totalOf(hours) };
    res.json(view);
  });
  return r;
}
