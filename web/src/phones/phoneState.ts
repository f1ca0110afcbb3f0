import type { Registration, SipAccount } from '../api/types.ts';
import type { Tone } from '../components/tone.ts';

/** Whether a phone is usable right now, in a word and a tone. */
export function phoneState(account: SipAccount, bindings: Registration[]): { tone: Tone; label: string } {
  if (!account.enabled) return { tone: 'neutral', label: 'Disabled' };
  if (account.needsNewPassword) return { tone: 'bad', label: 'Needs a new password' };
  if (bindings.length === 0) return { tone: 'warn', label: 'Not registered' };
  return { tone: 'good', label: bindings.length === 1 ? 'Registered' : `Registered (${bindings.length} devices)` };
}

export const sourceOf = (b: Registration) => `${b.source.address}:${b.source.port} (${b.source.transport.toUpperCase()})`;

export function bindingsByAccount(items: Registration[] | undefined): Map<string, Registration[]> {
  const m = new Map<string, Registration[]>();
  for (const b of items ?? []) m.set(b.accountId, [...(m.get(b.accountId) ?? []), b]);
  return m;
}
