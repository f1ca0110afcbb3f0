import { Router } from 'express';
import { z } from 'zod';
import { notFound, parse } from './errors.ts';
import { scopeOf } from './session.ts';

const createBody = z.strictObject({ name: z.string().trim().min(1, 'is required').max(100) });
const idParam = z.strictObject({ id: z.string().max(64) });

const view = (k: { id: string; name: string; prefix: string; createdAt: number; lastUsedAt: number | null }) => ({
  id: k.id,
  name: k.name,
  prefix: k.prefix,
  createdAt: new Date(k.createdAt).toISOString(),
  lastUsedAt: k.lastUsedAt === null ? null : new Date(k.lastUsedAt).toISOString(),
});

export function apiKeyRoutes(): Router {
  const r = Router();
  r.get('/', async (req, res) => {
    res.json({ items: (await scopeOf(req).apiKeys.list()).map(view) });
  });
  r.post('/', async (req, res) => {
    const { name } = parse(createBody, req.body);
    const { key, secret } = await scopeOf(req).apiKeys.create(name);
    // The only time the secret is shown.
    res.status(201).json({ ...view(key), key: secret });
  });
  r.delete('/:id', async (req, res) => {
    const { id } = parse(idParam, req.params);
    if (!(await scopeOf(req).apiKeys.delete(id))) throw notFound('API key');
    res.status(204).end();
  });
  return r;
}
