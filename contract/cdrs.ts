/**
 * Call records as the API returns them (GET /cdrs, GET /cdrs/:id): the stored record
 * (server/domain/cdr.ts) without its tenant, times as ISO 8601 strings.
 */
import type { LegMedia } from './calls.ts';
import type { RecordingView } from './audio.ts';
import type { CdrStatus } from './outcomes.ts';

export type { LegMedia, LegQuality } from './calls.ts';

export { CDR_STATUSES, type CdrStatus } from './outcomes.ts';

export type CdrDirection = 'in' | 'out' | 'local';
export type HangupSide = 'caller' | 'callee' | 'switch';

export interface CdrParty {
  user: string;
  host: string;
  display?: string;
  uri: string;
}

/** One channel of the call as it was when it hung up. */
export interface CdrLegView {
  id: string;
  direction: 'inbound' | 'outbound';
  target?: string;
  account?: string;
  provider?: string;
  from: CdrParty;
  to: CdrParty;
  createdAt: string;
  ringingAt: string | null;
  answeredAt: string | null;
  endedAt: string | null;
  sipStatus?: number;
  hangupCause?: string;
  hangupBy?: HangupSide;
  /** The SIP transport of the leg's signalling: udp, tcp, tls, ws, wss. */
  transport?: string;
  /** Its signalling was encrypted (TLS or secure WebSocket). */
  encrypted?: boolean;
  /** The leg's audio through the relay (absent: no relay, or the leg never exchanged SDP). */
  media?: LegMedia;
}

export interface CdrLogLineView {
  at: string;
  level: string;
  message: string;
}

export interface CdrSummaryView {
  id: string;
  callId: string;
  direction: CdrDirection;
  caller: string;
  callee: string;
  dialled: string[];
  account: string | null;
  provider: string | null;
  startedAt: string;
  ringingAt: string | null;
  answeredAt: string | null;
  endedAt: string;
  ringMs: number | null;
  talkMs: number;
  status: CdrStatus;
  sipStatus: number | null;
  hangupCause: string | null;
  hangupBy: HangupSide | null;
  dialplan: { name: string; version: number | null; outcome: string | null } | null;
  nodeId: string;
}

export interface CdrView extends CdrSummaryView {
  legs: CdrLegView[];
  log: CdrLogLineView[];
  /** Recordings made during the call (a dialplan's `record()`), oldest first. */
  recordings: RecordingView[];
}
