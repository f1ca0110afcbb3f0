/** The parties of a call as the switch names them in its own requests. */
import { parseUri } from '../sip/message.ts';
import { decodeUser, displayName, sipUri } from '../sip/wireValues.ts';
import type { Party } from './events.ts';

/**
 * A party as the peer named it in From or To: the user part decoded (the dialplan reads it as
 * text), the display name reduced to what can be quoted, and a URI rebuilt from those parts so
 * nothing of the peer's own text (an escaped CR LF, a NUL) is copied into our requests.
 */
export function partyOf(addr: { uri: string; name?: string } | undefined, fallbackHost: string): Party {
  const uri = parseUri(addr?.uri ?? '');
  const user = uri?.user ? decodeUser(uri.user) : '';
  const host = uri?.host ?? fallbackHost;
  const display = displayName(addr?.name);
  return { user, host, ...(display ? { display } : {}), uri: sipUri(user, host) };
}

/** The same party as the caller of a leg the switch places: its user (or `anonymous`) at our domain. */
export function asCallerAt(party: Party, domain: string): Party {
  return { ...party, host: domain, uri: sipUri(party.user || 'anonymous', domain) };
}
