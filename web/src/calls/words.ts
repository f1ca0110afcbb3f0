/** Call records and live channels in words. */
import type { CdrStatus, CdrSummary, ChannelState } from '../api/types.ts';
import type { Tone } from '../components/tone.ts';
import { duration } from '../format.ts';

export const STATUS_TONE: Record<CdrStatus, Tone> = { answered: 'good', busy: 'warn', 'no-answer': 'warn', unavailable: 'warn', cancelled: 'neutral', failed: 'bad' };

export const CHANNEL_TONE: Record<ChannelState, Tone> = { down: 'neutral', ringing: 'busy', up: 'good', hungup: 'neutral' };

export const CHANNEL_LABEL: Record<ChannelState, string> = { down: 'Setting up', ringing: 'Ringing', up: 'Connected', hungup: 'Ended' };

const CAUSES: Record<string, string> = {
  normal: 'hung up',
  busy: 'busy',
  'no-answer': 'no answer',
  rejected: 'rejected',
  unavailable: 'unreachable',
  cancelled: 'cancelled',
  'answered-elsewhere': 'answered elsewhere',
  'max-duration': 'reached its time limit',
  transferred: 'transferred',
  'dialplan-error': 'dialplan error',
  'switch-error': 'switch error',
  'connection-lost': 'connection lost',
  'media-timeout': 'no audio (timed out)',
};

/** `callee hung up`, `busy (486)`, `dialplan error by the switch`. */
export function hangupWords(cause: string | null | undefined, by: string | null | undefined, sipStatus?: number | null): string {
  if (!cause) return '—';
  const what = CAUSES[cause] ?? cause;
  const who = cause === 'normal' && by ? `${by} ` : '';
  const status = sipStatus && sipStatus !== 200 ? ` (${sipStatus})` : '';
  const side = cause !== 'normal' && by ? ` · ${by} side` : '';
  return `${who}${what}${status}${side}`;
}

const SIP_MEANING: Record<number, string> = {
  403: 'refused (403 Forbidden)',
  404: 'nobody by that number or name (404 Not Found)',
  408: 'no answer in time (408)',
  480: 'nobody available (480)',
  484: 'the number is incomplete (484)',
  486: 'busy (486)',
  487: 'cancelled (487)',
  488: 'the two sides share no codec (488)',
  500: 'the switch failed (500)',
  502: 'the next hop failed (502)',
  503: 'unavailable, or a limit was reached (503)',
  603: 'declined (603)',
};

const DIALPLAN_OUTCOME: Record<string, string> = {
  error: 'threw an error (its log says where)',
  timeout: 'ran out of time',
  memory: 'ran out of memory',
  crashed: 'crashed its worker',
  rejected: 'was not run: too many at once, or your dialplans are suspended',
};

/** Why a call ended as it did, in a sentence or two (for the call's page). */
export function whyItEnded(c: CdrSummary): string {
  const dp = c.dialplan?.outcome ? DIALPLAN_OUTCOME[c.dialplan.outcome] : undefined;
  const dialplan = dp ? ` The dialplan ${c.dialplan!.name} ${dp}.` : '';
  const rang = c.ringMs ? ` after ${duration(c.ringMs)} of ringing` : '';
  switch (c.status) {
    case 'answered': {
      const how = c.hangupCause && c.hangupCause !== 'normal' ? ` (${CAUSES[c.hangupCause] ?? c.hangupCause})` : '';
      return `Answered${rang}; ${duration(c.talkMs)} of talk, then the ${c.hangupBy ?? 'switch'} hung up${how}.${dialplan}`;
    }
    case 'busy':
      return `The called side was busy${c.sipStatus ? ` (${c.sipStatus})` : ''}.${dialplan}`;
    case 'no-answer':
      return `Nobody answered${rang}.${dialplan}`;
    case 'unavailable':
      return `Nobody could be reached: no phone was registered, or the destination did not respond.${dialplan}`;
    case 'cancelled':
      return `The caller hung up before anyone answered${rang}.${dialplan}`;
    case 'failed': {
      const status = c.sipStatus ? `: ${SIP_MEANING[c.sipStatus] ?? `SIP ${c.sipStatus}`}` : '';
      const cause = c.hangupCause && !['normal', 'rejected'].includes(c.hangupCause) ? `; ${CAUSES[c.hangupCause] ?? c.hangupCause}` : '';
      return `The call failed${status}${cause}.${dialplan}`;
    }
  }
}
