/**
 * Call records as the API returns them: the stored record (server/cdr/model.ts) without its tenant,
 * times as ISO 8601 strings. Only type imports, so the portal takes its types from here
 * (web/src/api/types.ts) and cannot drift from what the API sends.
 */
import type { Cdr, CdrLeg, CdrLogLine, CdrSummary } from '../cdr/model.ts';

const iso = (ms: number) => new Date(ms).toISOString();
const isoOrNull = (ms: number | null | undefined) => (ms == null ? null : iso(ms));

export function summaryView(c: CdrSummary) {
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

export const legView = (l: CdrLeg) => ({
  ...l,
  createdAt: iso(l.createdAt),
  ringingAt: isoOrNull(l.ringingAt),
  answeredAt: isoOrNull(l.answeredAt),
  endedAt: isoOrNull(l.endedAt),
});

const logLineView = (l: CdrLogLine) => ({ ...l, at: iso(l.at) });

export const detailView = (c: Cdr) => ({
  ...summaryView(c),
  legs: c.legs.map(legView),
  log: c.log.map(logLineView),
});

export type CdrSummaryView = ReturnType<typeof summaryView>;
export type CdrLegView = ReturnType<typeof legView>;
export type CdrView = ReturnType<typeof detailView>;
