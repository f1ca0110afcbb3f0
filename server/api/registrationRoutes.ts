import { Router } from 'express';
import { z } from 'zod';
import { parse } from './errors.ts';
import { scopeOf } from './session.ts';

const query = z.strictObject({ accountId: z.string().max(64).optional() });

export function registrationRoutes(): Router {
  const r = Router();
  r.get('/', async (req, res) => {
    const { accountId } = parse(query, req.query);
    const now = Date.now();
    const items = await scopeOf(req).registrations.list(now, accountId);
    res.json({
      items: items.map((b) => ({
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
      })),
    });
  });
  return r;
}
