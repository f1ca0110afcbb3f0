/**
 * A call's SIP messages, both legs, as `GET /cdrs/:id/trace` (kept with the record) and
 * `GET /calls/:callId/trace` (a call in progress) answer them. Times are epoch ms.
 */
export interface TracedMessage {
  at: number;
  /** As the switch saw it: received from the peer, or sent to it. */
  direction: 'in' | 'out';
  peer: { transport: string; address: string; port: number };
  /** The SIP Call-ID: one per leg, which tells the legs apart. */
  sipCallId: string;
  /** `INVITE sip:101@host` or `SIP/2.0 200 OK`. */
  firstLine: string;
  /** The whole message as text (a received one as the switch parsed it). */
  text: string;
}

export interface CallTraceView {
  callId: string;
  /** Where the switch received and sent them (the other end of every message). */
  local: { address: string; port: number };
  messages: TracedMessage[];
  /** Messages past the per-call bound, not kept. */
  dropped: number;
}

/** One line of a call's story: a SIP message, a dialplan log line, or a leg changing state. */
export type StoryEntry =
  | { kind: 'sip'; at: number; message: TracedMessage }
  | { kind: 'log'; at: number; level: string; message: string }
  | { kind: 'leg'; at: number; channelId: string; /** A for the caller's leg, B, C… for the legs placed, in order. */ leg: string; what: string };

/** `GET /cdrs/:id/story`: the whole call in time order (`/calls/:callId/story` while it lasts: its messages so far). */
export interface CallStoryView {
  callId: string;
  local: { address: string; port: number };
  entries: StoryEntry[];
  /** SIP messages past the per-call bound, not kept. */
  dropped: number;
}
