/** A provider's registration state in words: what happened, and what the switch will do next. */
import type { Provider, ProviderHealth, ProviderStatus } from '../api/types.ts';
import type { Tone } from '../components/tone.ts';
import { relative } from '../format.ts';

const STATUS_MEANING: Record<number, string> = {
  400: 'the provider could not understand the registration',
  401: 'the provider refused the username or password',
  403: 'the provider refused the registration: check the username, the password and that the account is active',
  404: 'the provider does not know this user',
  407: 'the provider refused the username or password',
  408: 'the provider did not answer in time',
  423: 'the provider wants a longer registration interval',
  480: 'the provider is temporarily unavailable',
  483: 'the request looped between servers',
  500: 'the provider had an internal error',
  502: 'a server in front of the provider failed',
  503: 'the provider is overloaded or down for maintenance',
  504: 'a server in front of the provider timed out',
};

/** `the provider refused the username or password (401 Unauthorized)` */
export function explainSipStatus(status: number | null, reason: string | null): string | null {
  if (status === null) return null;
  const meaning = STATUS_MEANING[status] ?? (status >= 500 ? 'the provider failed' : status >= 400 ? 'the provider refused the registration' : 'unexpected answer');
  return `${meaning} (${status}${reason ? ` ${reason}` : ''})`;
}

export function providerTone(s: ProviderStatus): Tone {
  switch (s.state) {
    case 'registered':
      return 'good';
    case 'failed':
      return 'bad';
    case 'registering':
      return 'busy';
    default:
      return 'neutral';
  }
}

export const STATE_LABEL: Record<ProviderStatus['state'], string> = {
  disabled: 'Disabled',
  idle: 'Not registering',
  registering: 'Registering',
  registered: 'Registered',
  failed: 'Failed',
};

/** One or two sentences for the provider's page and the dashboard. */
export function describeProviderStatus(p: Provider, fmtTime: (t: string) => string): string {
  const s = p.status;
  // The switch's own words when it has them (they name the status too), else the status explained.
  const why = s.lastError ?? explainSipStatus(s.lastStatus, s.lastReason);
  const next = s.nextAttemptAt ? ` Next attempt ${relative(s.nextAttemptAt)} (${fmtTime(s.nextAttemptAt)}).` : '';
  switch (s.state) {
    case 'disabled':
      return 'Disabled: the switch neither registers nor sends calls to this provider.';
    case 'idle':
      return p.register ? `Waiting to register.${next}` : 'Registration is off: calls are sent to the provider without registering.';
    case 'registering':
      return `Registering with ${p.host}…`;
    case 'registered':
      return `Registered${s.registeredUntil ? ` until ${fmtTime(s.registeredUntil)}` : ''}${s.rttMs !== null ? `; the provider answers in ${s.rttMs} ms` : ''}.`;
    case 'failed':
      return `Registration failed${why ? `: ${why}` : ''}.${next}`;
  }
}

/** Whether the provider answers OPTIONS pings, in a few words. */
export function describeHealth(h: ProviderHealth | null): string {
  if (!h) return 'not checked yet';
  return h.reachable ? `yes, in ${h.rttMs ?? '?'} ms (${h.detail})` : `no: ${h.detail}`;
}
