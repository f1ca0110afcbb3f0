/** Call records and live channels in words. */
import type { CdrStatus, ChannelState } from '../api/types.ts';
import type { Tone } from '../components/Badge.tsx';

export const STATUS_TONE: Record<CdrStatus, Tone> = { answered: 'good', busy: 'warn', 'no-answer': 'warn', cancelled: 'neutral', failed: 'bad' };

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
