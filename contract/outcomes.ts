/**
 * The words the switch and the portal both use for what became of a call and of each of its legs:
 * what a dial reports, why a channel ended, a call record's status. The table that maps one onto
 * another (and onto SIP statuses) is the server's: server/domain/outcomes.ts.
 */

/** What a dial reports for a leg or a group of legs. */
export type DialOutcome = 'answered' | 'busy' | 'no-answer' | `rejected:${number}` | 'unavailable' | 'cancelled';

/** Why a channel ended. */
export type HangupCause =
  | 'normal' // BYE after answer
  | 'busy'
  | 'no-answer'
  | 'rejected'
  | 'unavailable'
  | 'cancelled' // the caller gave up, or another branch answered
  | 'answered-elsewhere'
  | 'max-duration'
  | 'transferred'
  | 'dialplan-error'
  | 'switch-error'
  | 'connection-lost' // its connection (a browser's WebSocket) closed, or a restart left it none
  | 'media-timeout'; // a phone sent no audio for MEDIA_NO_RTP_HANGUP_SECONDS: the switch ended the call

/** A call record's status. */
export type CdrStatus = 'answered' | 'busy' | 'no-answer' | 'unavailable' | 'cancelled' | 'failed';
export const CDR_STATUSES: readonly CdrStatus[] = ['answered', 'busy', 'no-answer', 'unavailable', 'cancelled', 'failed'];
