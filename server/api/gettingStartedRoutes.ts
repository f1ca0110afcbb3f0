/**
 * `GET /getting-started`: the dashboard checklist's state, read from the tenant's own data in one
 * request (the portal polls it until every step is done).
 */
import { Router } from 'express';
import type { GettingStartedView } from '../../contract/gettingStarted.ts';
import { DEFAULT_DIALPLAN } from '../dialplan/selection.ts';
import { scopeOf } from './session.ts';

export function gettingStartedRoutes(): Router {
  const r = Router();
  r.get('/', async (req, res) => {
    const scope = scopeOf(req);
    const [phones, registrations, answered, providers, dialplans] = await Promise.all([
      scope.sipAccounts.list(),
      scope.registrations.summary(Date.now()),
      scope.cdrs.list({ status: 'answered' }, { limit: 1 }),
      scope.providers.list(),
      scope.dialplans.list(),
    ]);
    const view: GettingStartedView = {
      phone: { done: phones.length > 0, firstPhoneId: phones[0]?.id ?? null },
      registered: { done: registrations.registeredAccounts > 0 },
      testCall: { done: answered.items.length > 0, recordId: answered.items[0]?.id ?? null },
      provider: { done: providers.length > 0 },
      // The `default` a tenant gets at sign-up (version 1) is not an edit of its own.
      dialplan: { done: dialplans.some((d) => d.name !== DEFAULT_DIALPLAN || d.version > 1) },
    };
    res.json(view);
  });
  return r;
}
