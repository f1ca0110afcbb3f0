import { Router, type Response } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import { CDR_CSV_HEADER, cdrCsvRow } from '../cdr/csv.ts';
import { CDR_STATUSES, type CdrStatus } from '../domain/cdr.ts';
import { InvalidCursorError, type CdrFilter } from '../store/cdrs.ts';
import { detailView, summaryView } from './cdrViews.ts';
import { HttpError, notFound, parse } from './errors.ts';
import { scopeOf } from './session.ts';

const filters = {
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  number: z.string().min(1).max(255).optional(),
  status: z
    .string()
    .refine((s) => (CDR_STATUSES as readonly string[]).includes(s) || /^[1-6][0-9][0-9]$/.test(s), {
      message: `must be one of ${CDR_STATUSES.join(', ')} or a SIP status code`,
    })
    .optional(),
};
const listQuery = z.strictObject({
  ...filters,
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});
const csvQuery = z.strictObject(filters);

function toFilter(q: z.infer<typeof csvQuery>): CdrFilter {
  const f: CdrFilter = {};
  if (q.from) f.from = Date.parse(q.from);
  if (q.to) f.to = Date.parse(q.to);
  if (q.number) f.number = q.number;
  if (q.status) f.status = /^\d+$/.test(q.status) ? Number(q.status) : (q.status as CdrStatus);
  return f;
}

const CSV_PAGE = 1000;

/** Resolves when the socket can take more, or when the client has gone. */
const drained = (res: Response) =>
  new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });

/** `GET /cdrs`, `GET /cdrs.csv`, `GET /cdrs/:id`: the tenant's call records. */
export function cdrRoutes(log: Logger): Router {
  const r = Router();

  r.get('/cdrs', async (req, res) => {
    const q = parse(listQuery, req.query);
    try {
      const page = await scopeOf(req).cdrs.list(toFilter(q), { limit: q.limit, ...(q.cursor ? { cursor: q.cursor } : {}) });
      res.json({ items: page.items.map(summaryView), nextCursor: page.nextCursor });
    } catch (err) {
      if (err instanceof InvalidCursorError) throw new HttpError(400, `cursor: ${err.message}`, 'cursor');
      throw err;
    }
  });

  // Streamed a page at a time, following the socket's back-pressure, so an export of a year of
  // records holds one page in memory.
  r.get('/cdrs.csv', async (req, res) => {
    const filter = toFilter(parse(csvQuery, req.query));
    const cdrs = scopeOf(req).cdrs;
    res.status(200);
    res.set({ 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': 'attachment; filename="cdrs.csv"', 'Cache-Control': 'no-store' });
    res.write(CDR_CSV_HEADER);
    try {
      let cursor: string | undefined;
      do {
        const page = await cdrs.list(filter, { limit: CSV_PAGE, ...(cursor ? { cursor } : {}) });
        if (res.destroyed) return;
        if (!res.write(page.items.map(cdrCsvRow).join(''))) await drained(res);
        cursor = page.nextCursor ?? undefined;
      } while (cursor && !res.destroyed);
      res.end();
    } catch (err) {
      // Headers are gone: the client sees a truncated download, never a CSV that looks complete.
      log.error({ err }, 'CSV export failed');
      res.destroy();
    }
  });

  r.get('/cdrs/:id', async (req, res) => {
    const id = req.params.id;
    const scope = scopeOf(req);
    const cdr = id.length <= 36 ? await scope.cdrs.get(id) : undefined;
    if (!cdr) throw notFound('call record');
    res.json(detailView(cdr, await scope.recordings.forCall(cdr.callId)));
  });

  return r;
}
