/**
 * A call record as the switch keeps it: one per call, with its legs (the channels as they were
 * when they hung up) and its dialplan log. Times are epoch milliseconds. The API's views of it
 * (server/api/cdrViews.ts) are the portal's: contract/cdrs.ts.
 */
import type { CdrDirection, CdrLegView, CdrStatus, HangupSide } from '../../contract/cdrs.ts';

export { CDR_STATUSES, type CdrDirection, type CdrParty, type CdrStatus, type HangupSide } from '../../contract/cdrs.ts';

/**
 * One channel of the call as it was when it hung up: the API's leg (contract/cdrs.ts) with its
 * times as epoch milliseconds, absent until they happened, and without what the view derives.
 */
export type CdrLeg = Omit<CdrLegView, 'createdAt' | 'ringingAt' | 'answeredAt' | 'endedAt' | 'encrypted'> & {
  createdAt: number;
  ringingAt?: number;
  answeredAt?: number;
  endedAt?: number;
};

export interface CdrLogLine {
  at: number;
  level: string;
  message: string;
}

export interface CdrSummary {
  id: string;
  tenantId: string;
  callId: string;
  nodeId: string;
  direction: CdrDirection;
  caller: string;
  callee: string;
  dialled: string[];
  account: string | null;
  provider: string | null;
  startedAt: number;
  ringingAt: number | null;
  answeredAt: number | null;
  endedAt: number;
  ringMs: number | null;
  talkMs: number;
  status: CdrStatus;
  sipStatus: number | null;
  hangupCause: string | null;
  hangupBy: HangupSide | null;
  dialplan: { name: string; version: number | null; outcome: string | null } | null;
}

export interface Cdr extends CdrSummary {
  legs: CdrLeg[];
  log: CdrLogLine[];
}
