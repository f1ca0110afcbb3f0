import { Router } from 'express';
import { z } from 'zod';
import { API_KEY_SCOPES, type ApiKey } from '../store/apiKeys.ts';
import { notFound, parse } from './errors.ts';
import { scopeOf } from './session.ts';

const createBody = z.strictObject({
  name: z.string().trim().min(1, 'is required').max(100),
  scope: z.enum(API_KEY_SCOPES).default('full'),
  /** When the key stops working; absent or null: never. */
  expiresAt: z.iso
    .datetime({ offset: true })
    .refine((t) => Date.parse(t) > Date.now(), 'must be in the future')
    .nullable()
    .optional(),
});
const idParam = z.strictObject({ id: z.string().max(64) });

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const view = (k: ApiKey) => ({
  id: k.id,
  name: k.name,
  prefix: k.prefix,
  scope: k.scope,
  expiresAt: iso(k.expiresAt),
  createdAt: iso(k.createdAt)!,
  lastUsedAt: iso(k.lastUsedAt),
});

export type ApiKeyView = ReturnType<typeof view>;

export function apiKeyRoutes(): Router {
  const r = Router();
  r.get('/', async (req, res) => {
    res.json({ items: (await scopeOf(req).apiKeys.list()).map(view) });
  });
  r.post('/', async (req, res) => {
    const { name, scope, expiresAt } = parse(createBody, req.body);
    const { key, secret } = await scopeOf(req).apiKeys.create(name, { scope, expiresAt: expiresAt ? Date.parse(expiresAt) : null });
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
