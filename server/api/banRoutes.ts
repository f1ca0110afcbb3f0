/**
 * The blocks the brute-force guard holds (server/sip/authGuard.ts), for the people who may see and
 * lift them. Tenants do not trust each other and anyone can sign up, so:
 * - an operator (a user whose e-mail is in OPERATOR_EMAILS, logged in with a session) sees every
 *   block with its reason and expiry and may lift any (`/operator/bans`);
 * - a tenant sees the blocks that concern its own accounts (`/sip-blocks`): the (account, address)
 *   blocks of its accounts, and the address bans its accounts were among the failures of, showing
 *   only its own usernames; it may lift the former, never an address ban, which may be what keeps
 *   a scanner off every other tenant's accounts.
 * Blocks live in each node's memory: the views name the node that holds them.
 */
import { Router, type Request, type RequestHandler } from 'express';
import { z } from 'zod';
import type { BanView } from '../../contract/bans.ts';
import type { Ban } from '../sip/authGuard.ts';
import type { Store } from '../store/index.ts';
import { HttpError, notFound, parse } from './errors.ts';
import { requireAuth, scopeOf } from './session.ts';

/** What the routes need of the guard. */
export interface BanControl {
  bans(): Ban[];
  lift(id: string): Ban | undefined;
}

/** Whether an e-mail address is an operator's (`OPERATOR_EMAILS`, compared without case). */
export type IsOperator = (email: string) => boolean;

export function operatorEmails(emails: readonly string[]): IsOperator {
  const listed = new Set(emails.map((e) => e.toLowerCase()));
  return (email) => listed.has(email.toLowerCase());
}

const idParam = z.strictObject({ id: z.string().min(1).max(64) });

function view(b: Ban, node: string, usernames = b.usernames): BanView {
  return {
    id: b.id,
    kind: b.kind,
    address: b.address,
    username: b.username,
    usernames,
    reason: b.reason,
    since: new Date(b.since).toISOString(),
    until: new Date(b.until).toISOString(),
    node,
  };
}

/** Lets only operators through: a session (API keys belong to tenants) of a listed user. */
export function requireOperator(store: Store, isOperator: IsOperator): RequestHandler {
  return async (req: Request, _res, next) => {
    const userId = req.principal?.userId;
    const user = userId ? await store.directory.findUser(userId) : undefined;
    if (!user || !isOperator(user.email)) throw new HttpError(403, 'only an operator may do this');
    next();
  };
}

export function operatorRoutes(store: Store, bans: BanControl, isOperator: IsOperator, node: string): Router {
  const r = Router();
  r.use(requireAuth(store), requireOperator(store, isOperator));
  r.get('/bans', (_req, res) => {
    res.json({ items: bans.bans().map((b) => view(b, node)) });
  });
  r.delete('/bans/:id', (req, res) => {
    const { id } = parse(idParam, req.params);
    if (!bans.lift(id)) throw notFound('ban');
    res.status(204).end();
  });
  return r;
}

/** The blocks that concern the calling tenant's accounts, with only its own usernames in them. */
async function tenantBlocks(req: Request, bans: BanControl): Promise<Array<{ ban: Ban; usernames: string[] }>> {
  const mine = new Set((await scopeOf(req).sipAccounts.list()).map((a) => a.username));
  const out: Array<{ ban: Ban; usernames: string[] }> = [];
  for (const ban of bans.bans()) {
    const usernames = ban.usernames.filter((u) => mine.has(u));
    if (usernames.length) out.push({ ban, usernames });
  }
  return out;
}

export function sipBlockRoutes(bans: BanControl, node: string): Router {
  const r = Router();
  r.get('/', async (req, res) => {
    res.json({ items: (await tenantBlocks(req, bans)).map(({ ban, usernames }) => view(ban, node, usernames)) });
  });
  r.delete('/:id', async (req, res) => {
    const { id } = parse(idParam, req.params);
    const found = (await tenantBlocks(req, bans)).find(({ ban }) => ban.id === id);
    if (!found) throw notFound('block');
    if (found.ban.kind === 'address') {
      throw new HttpError(403, 'only an operator can lift an address ban: it may be what keeps a scanner off other accounts');
    }
    bans.lift(id);
    res.status(204).end();
  });
  return r;
}
