/**
 * Call records as the API returns them: the stored record (server/domain/cdr.ts) without its
 * tenant, times as ISO 8601 strings. The shapes are the portal's too (contract/cdrs.ts).
 */
import type { CdrLegView, CdrLogLineView, CdrSummaryView, CdrView } from '../../contract/cdrs.ts';
import type { Recording } from '../store/recordings.ts';
import { recordingView } from './audioViews.ts';
import type { Cdr, CdrLeg, CdrLogLine, CdrSummary } from '../domain/cdr.ts';
import { isEncrypted, isTransportName } from '../sip/transport.ts';

const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null | undefined) => (ms == null ? null : iso(ms));

export function summaryView(c: CdrSummary): CdrSummaryView {
  return {
    id: c.id,
    callId: c.callId,
    direction: c.direction,
    caller: c.caller,
    callee: c.callee,
    dialled: c.dialled,
    account: c.account,
    provider: c.provider,
    startedAt: iso(c.startedAt),
    ringingAt: isoOrNull(c.ringingAt),
    answeredAt: isoOrNull(c.answeredAt),
    endedAt: iso(c.endedAt),
    ringMs: c.ringMs,
    talkMs: c.talkMs,
    status: c.status,
    sipStatus: c.sipStatus,
    hangupCause: c.hangupCause,
    hangupBy: c.hangupBy,
    dialplan: c.dialplan,
    nodeId: c.nodeId,
  };
}

export const legView = (l: CdrLeg): CdrLegView => ({
  ...l,
  createdAt: iso(l.createdAt),
  ringingAt: isoOrNull(l.ringingAt),
  answeredAt: isoOrNull(l.answeredAt),
  endedAt: isoOrNull(l.endedAt),
  ...(l.transport ? { encrypted: isTransportName(l.transport) && isEncrypted(l.transport) } : {}),
});

const logLineView = (l: CdrLogLine): CdrLogLineView => ({ ...l, at: iso(l.at) });

export const detailView = (c: Cdr, recordings: Recording[]): CdrView => ({
  ...summaryView(c),
  legs: c.legs.map(legView),
  log: c.log.map(logLineView),
  recordings: recordings.map(recordingView),
});
