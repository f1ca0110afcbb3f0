/** `GET /stats/calls?from&to` (epoch ms or ISO 8601; default the last 24 hours, at most 31 days): calls per hour. */
import { Router } from 'express';
import { z } from 'zod';
import type { CallStatsView } from '../../contract/callStats.ts';
import { HttpError, parse } from './errors.ts';
import { scopeOf } from './session.ts';

const DAY_MS = 86_400_000;
const MAX_DAYS = 31;
const instant = z.union([z.coerce.number().int().nonnegative(), z.iso.datetime({ offset: true }).transform((s) => Date.parse(s))]);
const query = z.strictObject({ from: instant.optional(), to: instant.optional() });

export function statsRoutes(): Router {
  const r = Router();
  r.get('/calls', async (req, res) => {
    const q = parse(query, req.query);
    const to = q.to ?? Date.now();
    const from = q.from ?? to - DAY_MS;
    if (from >= to) throw new HttpError(400, 'from: must be before to', 'from');
    if (to - from > MAX_DAYS * DAY_MS) throw new HttpError(400, `from: a period is at most ${MAX_DAYS} days`, 'from');
    const view: CallStatsView = { from, to, hours: await scopeOf(req).cdrs.hourlyStats(from, to) };
    res.json(view);
  });
  return r;
}
