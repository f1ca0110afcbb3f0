import { Router } from 'express';
import { z } from 'zod';
import { InvalidCursorError } from '../store/cdrs.ts';
import type { RegistrationView } from '../store/registrations.ts';
import { HttpError, parse } from './errors.ts';
import { scopeOf } from './session.ts';

const accountId = z.string().max(64);
const query = z.strictObject({
  /** One account, or several (`?accountId=a&accountId=b`, at most 100). */
  accountId: z.union([accountId, z.array(accountId).max(100, 'at most 100 accounts')]).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(200).optional(),
});

const view = (b: RegistrationView, now: number) => ({
  id: b.id,
  accountId: b.accountId,
  username: b.username,
  contact: b.contactUri,
  source: { address: b.sourceIp, port: b.sourcePort, transport: b.transport },
  userAgent: b.userAgent,
  digestAlgorithm: b.algorithm,
  expiresAt: new Date(b.expiresAt).toISOString(),
  expiresIn: Math.max(0, Math.round((b.expiresAt - now) / 1000)),
  registeredAt: new Date(b.createdAt).toISOString(),
  refreshedAt: new Date(b.updatedAt).toISOString(),
  nodeId: b.nodeId,
});

/**
 * `GET /registrations?accountId&limit&cursor`: the tenant's live bindings, keyset-paged like call
 * records (`{items, nextCursor}`), in the order accounts were created, each account's phones oldest
 * first. `GET /registrations/summary`: how many, for a dashboard that needs no list.
 */
export function registrationRoutes(): Router {
  const r = Router();
  r.get('/', async (req, res) => {
    const q = parse(query, req.query);
    const now = Date.now();
    const accountIds = q.accountId === undefined ? undefined : [q.accountId].flat();
    try {
      const page = await scopeOf(req).registrations.page(now, { limit: q.limit, ...(accountIds ? { accountIds } : {}), ...(q.cursor ? { cursor: q.cursor } : {}) });
      res.json({ items: page.items.map((b) => view(b, now)), nextCursor: page.nextCursor });
    } catch (err) {
      if (err instanceof InvalidCursorError) throw new HttpError(400, `cursor: ${err.message}`, 'cursor');
      throw err;
    }
  });
  r.get('/summary', async (req, res) => {
    res.json(await scopeOf(req).registrations.summary(Date.now()));
  });
  return r;
}
