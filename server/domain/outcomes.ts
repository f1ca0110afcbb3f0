/**
 * What can become of a call and of each of its legs, and how every part of the switch says it: the
 * outcome a dialplan's `dial()` reports, the SIP status the caller is answered with, the hang-up
 * cause on the channel, and the status of the call record. One table, so a failure reads the same
 * on a live call, a call resumed after a restart, a simulated test run and a transfer.
 * It depends only on the words themselves (contract/outcomes.ts), which the portal uses too.
 */

import type { CdrStatus, DialOutcome, HangupCause } from '../../contract/outcomes.ts';

export { CDR_STATUSES, type CdrStatus, type DialOutcome, type HangupCause } from '../../contract/outcomes.ts';

/** The kinds of failure a dial can end with, most telling first. */
type FailureKind = 'busy' | 'rejected' | 'no-answer' | 'unavailable' | 'cancelled';

interface FailureRow {
  cause: HangupCause;
  /** What the caller is answered when the call ends on this failure (`callee`: the callee's own status). */
  toCaller: { status: number | 'callee'; reason: string };
  cdr: CdrStatus;
}

/**
 * The table. `unavailable` (nowhere to ring, or the callee's server is down) is told to the caller
 * as 480, never as the callee's 503: a 503 from the switch would tell the caller that the *switch*
 * is unavailable and send it to another server (RFC 3261 §21.5.4).
 */
export const FAILURES: Readonly<Record<FailureKind, FailureRow>> = {
  busy: { cause: 'busy', toCaller: { status: 486, reason: 'Busy Here' }, cdr: 'busy' },
  rejected: { cause: 'rejected', toCaller: { status: 'callee', reason: 'Rejected' }, cdr: 'failed' },
  'no-answer': { cause: 'no-answer', toCaller: { status: 480, reason: 'No Answer' }, cdr: 'no-answer' },
  unavailable: { cause: 'unavailable', toCaller: { status: 480, reason: 'Temporarily Unavailable' }, cdr: 'unavailable' },
  cancelled: { cause: 'cancelled', toCaller: { status: 487, reason: 'Request Terminated' }, cdr: 'cancelled' },
};

const RANK: readonly FailureKind[] = ['busy', 'rejected', 'no-answer', 'unavailable', 'cancelled'];

function kindOf(result: DialOutcome): FailureKind | undefined {
  if (result === 'answered') return undefined;
  return result.startsWith('rejected:') ? 'rejected' : (result as FailureKind);
}

/** A callee's final failure response (or a provider's), as the dial reports it and the leg ends. */
export function failureOfResponse(status: number): { result: DialOutcome; cause: HangupCause } {
  if (status === 486 || status === 600) return { result: 'busy', cause: 'busy' };
  if (status === 408 || status === 480) return { result: 'no-answer', cause: 'no-answer' };
  if (status === 502 || status === 503 || status === 504) return { result: 'unavailable', cause: 'unavailable' };
  if (status === 487) return { result: 'cancelled', cause: 'cancelled' };
  return { result: `rejected:${status}`, cause: 'rejected' };
}

/** The SIP status a dial outcome stands for, when it stands for one (what a test run shows). */
export function statusOfOutcome(result: DialOutcome): number | undefined {
  if (result === 'answered') return 200;
  if (result === 'busy') return 486;
  if (result.startsWith('rejected:')) return Number(result.slice('rejected:'.length));
  return undefined;
}

/** The most telling of several failures (all legs of a group failed): busy over rejected over the rest. */
export function mostTelling<T extends { result: DialOutcome }>(failures: readonly T[]): T | undefined {
  for (const kind of RANK) {
    const hit = failures.find((f) => kindOf(f.result) === kind);
    if (hit) return hit;
  }
  return undefined;
}

/**
 * The final answer to a caller whose call ended unanswered after `last` (the last dial's outcome),
 * or without any dial at all (nothing routed it: 404).
 */
export function answerToCaller(last: { result: DialOutcome } | undefined): { status: number; reason: string; cause: HangupCause } {
  const kind = last && kindOf(last.result);
  if (!last || !kind) return { status: 404, reason: 'Not Found', cause: 'rejected' };
  const row = FAILURES[kind];
  const status = row.toCaller.status === 'callee' ? statusOfOutcome(last.result)! : row.toCaller.status;
  // A challenge is for the hop that got it (a provider refusing our credentials): passed on, it
  // would ask the caller for credentials it has no use for. RFC 3398 maps both to 403.
  return status === 401 || status === 407 ? { status: 403, reason: 'Forbidden', cause: row.cause } : { status, reason: row.toCaller.reason, cause: row.cause };
}

/** The hang-up cause of a caller a dialplan answered itself with a final `status` (respond()). */
export function causeOfResponse(status: number): HangupCause {
  return failureOfResponse(status).cause;
}

/** The record's status, from how the call ended: answered, else the decisive hang-up's cause. */
export function cdrStatusOf(answered: boolean, cause: HangupCause | undefined, sipStatus: number | undefined): CdrStatus {
  if (answered) return 'answered';
  if (cause === 'busy' || sipStatus === 486 || sipStatus === 600) return 'busy';
  const kind = RANK.find((k) => FAILURES[k].cause === cause);
  return kind ? FAILURES[kind].cdr : 'failed';
}
