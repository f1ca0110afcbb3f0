/**
 * Which dialplan decides a call: the caller's account names one for the calls its phone places,
 * a callee account may name one for the calls it receives, a provider names one for calls arriving
 * from it; otherwise the tenant's `default`. A named dialplan that was deleted falls back to
 * `default`, so a call is never left without a decision because of a rename. Dialplans are read
 * through the per-node cache (server/store/cache.ts): a saved version reaches this node's calls at
 * once and other nodes' within the TTL, and calls keep routing while the database is unreachable.
 */
import type { TenantScope } from '../store/index.ts';
import type { SipAccount } from '../store/sipAccounts.ts';

export const DEFAULT_DIALPLAN = 'default';

export type CallOrigin =
  /** A registered phone of this tenant places a call. */
  | { kind: 'account'; account: SipAccount }
  /** A call addressed to one of this tenant's accounts. */
  | { kind: 'to-account'; callee: SipAccount }
  /** A call arriving from one of this tenant's providers. */
  | { kind: 'provider'; dialplan: string | null }
  /** A call the tenant places itself, for no phone of its own: a transfer its provider's caller asked for. */
  | { kind: 'tenant' };

export interface SelectedDialplan {
  name: string;
  version: number;
  source: string;
}

/**
 * The dialplan to run, or null when none applies: for a call to an account without a receiving
 * dialplan that means "ring its phones"; otherwise that the tenant has no dialplan at all.
 */
export async function selectDialplan(scope: TenantScope, origin: CallOrigin): Promise<SelectedDialplan | null> {
  let named: string | null;
  switch (origin.kind) {
    case 'account':
      named = origin.account.dialplanOut;
      break;
    case 'to-account':
      if (!origin.callee.dialplanIn) return null;
      named = origin.callee.dialplanIn;
      break;
    case 'provider':
      named = origin.dialplan;
      break;
    case 'tenant':
      named = null;
      break;
  }
  for (const name of named && named !== DEFAULT_DIALPLAN ? [named, DEFAULT_DIALPLAN] : [DEFAULT_DIALPLAN]) {
    const current = await scope.dialplans.currentCached(name);
    if (current) return { name, ...current };
  }
  return null;
}
