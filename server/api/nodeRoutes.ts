/** The nodes of the cluster for operators (`/operator/nodes`): who is up, who stopped, who died and who took it over, and what each holds. */
import { Router } from 'express';
import type { NodeState, NodeView } from '../../contract/nodes.ts';
import type { Store } from '../store/index.ts';
import type { NodeRecord } from '../store/nodes.ts';
import { requireOperator, type IsOperator } from './banRoutes.ts';
import { requireAuth } from './session.ts';

function stateOf(n: NodeRecord, silentSince: number): NodeState {
  if (n.takenOverBy !== null) return 'taken-over';
  if (n.stoppedAt !== null) return 'stopped';
  return n.heartbeatAt < silentSince ? 'silent' : 'up';
}

export function operatorNodeRoutes(store: Store, isOperator: IsOperator, self: string, deadAfterMs: number): Router {
  const r = Router();
  r.use(requireAuth(store), requireOperator(store, isOperator));
  r.get('/nodes', async (_req, res) => {
    const now = Date.now();
    const silentSince = now - deadAfterMs;
    const [nodes, held] = await Promise.all([store.nodes.list(), store.nodes.held(now)]);
    const items: NodeView[] = nodes.map((n) => ({
      id: n.id,
      sipAddress: n.sipAddress,
      httpUrl: n.httpUrl,
      state: stateOf(n, silentSince),
      startedAt: new Date(n.startedAt).toISOString(),
      heartbeatAt: new Date(n.heartbeatAt).toISOString(),
      takenOverBy: n.takenOverBy,
      self: n.id === self,
      calls: held.get(n.id)?.calls ?? 0,
      registrations: held.get(n.id)?.registrations ?? 0,
    }));
    res.json({ items });
  });
  return r;
}
