/**
 * Admission steps that apply the limits of callBudgets.ts: new INVITEs without credentials per
 * source address (before anything is looked up for a stranger), and calls at once and per minute
 * once it is known whose call it is. A refused call gets 503 with Retry-After, a log line and a
 * count by limit.
 */
import type { Logger } from 'pino';
import type { ServerTransaction } from '../../sip/transactions.ts';
import type { CallBudgets, Refusal } from '../callBudgets.ts';
import type { RefusalCounter } from '../dialer.ts';
import type { AdmissionStep } from './newCall.ts';

/** Answers a refused call, counted and logged; false when there is no refusal. */
export function refuse(tx: ServerTransaction, refusal: Refusal | undefined, log: Logger, counter?: RefusalCounter): boolean {
  if (!refusal) return false;
  log.warn({ limit: refusal.limit, source: tx.source.address }, `call refused: ${refusal.message}`);
  counter?.inc({ limit: refusal.limit });
  tx.respond(503, refusal.reason, { 'retry-after': String(refusal.retryAfterSeconds) });
  return true;
}

/**
 * A phone's first INVITE (before its challenge) counts too. Not counted: a provider's calls, and
 * credentials that answer a nonce this switch gave that very address (the brute-force guard counts
 * those); made-up credentials count like none.
 */
export function limitUncredentialedInvites(budgets: CallBudgets, provesSource: (tx: ServerTransaction) => boolean, counter?: RefusalCounter): AdmissionStep {
  return async ({ tx, provider, log }) => !provider && !provesSource(tx) && refuse(tx, await budgets.admitUncredentialedInvite(tx.source.address), log, counter);
}

/** The caller's budget: its tenant's phones, providers or strangers (and the stranger's address). */
export function applyCallLimits(budgets: CallBudgets, counter?: RefusalCounter): AdmissionStep {
  return async ({ tx, kind, tenantId, log }) => {
    tx.respond(100, 'Trying');
    return refuse(tx, await budgets.admit(kind!, tenantId!, tx.source.address), log, counter);
  };
}
