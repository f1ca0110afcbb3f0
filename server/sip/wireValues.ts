/**
 * Values that arrive from the network or from tenants' scripts and leave again in our requests:
 * user parts, display names, header values, target URIs. Each is written here in its one safe
 * form, so no CR, LF or NUL (a header injection), stray quote or routing parameter crosses over.
 */
import { parseUri, stringifyUri, type SipUri } from './message.ts';

/** RFC 3261 `unreserved` and the `user-unreserved` marks that cannot be misread in a user part. */
const USER_SAFE = /[A-Za-z0-9\-_.!~*'()&=+$,/]/;

/** A user part (as decoded text) escaped for a SIP URI: `a b` → `a%20b`, CR LF → `%0D%0A`. */
export function escapeUser(user: string): string {
  let out = '';
  for (const ch of user) out += USER_SAFE.test(ch) ? ch : encodeURIComponent(ch).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return out;
}

/** A user part as text (`a%20b` → `a b`); a malformed escape is kept as written, never thrown. */
export function decodeUser(user: string): string {
  try {
    return decodeURIComponent(user);
  } catch {
    return user;
  }
}

/** `sip:user@host` with the user part escaped; the host is ours or already parsed. */
export function sipUri(user: string, host: string): string {
  return user ? `sip:${escapeUser(user)}@${host}` : `sip:${host}`;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]+/g;

/** A header value built from outside text: control characters (CR, LF, NUL, …) become spaces. */
export function headerSafe(value: string): string {
  return value.replace(CONTROL, ' ');
}

/**
 * A display name as a peer sent it, reduced to what can be quoted without escapes: no control
 * characters, quotes or backslashes, single spaces, at most 64 characters. Undefined when nothing
 * is left.
 */
export function displayName(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const text = raw
    .replace(/^\s*"|"\s*$/g, '')
    .replace(/\\(.)/g, '$1')
    .replace(CONTROL, ' ')
    .replace(/["\\]/g, '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 64);
  return text || undefined;
}

/** A display name ready for a name-addr: always quoted, never able to end the quotes early. */
export function quotedDisplay(display: string): string {
  return `"${displayName(display) ?? ''}"`;
}

/**
 * A SIP URI to send a request to, as a tenant or a peer named it: without `maddr` (which would
 * redirect the request past our own address checks) and without URI headers (`?Route=…`, which a
 * next hop could turn into headers of its own). Undefined when it does not parse.
 */
export function targetUri(text: string): { uri: string; parsed: SipUri } | undefined {
  const parsed = parseUri(text);
  if (!parsed || !/^sips?$/i.test(parsed.schema) || !parsed.host) return undefined;
  const params = { ...parsed.params };
  delete params.maddr;
  const clean: SipUri = { ...parsed, params, headers: {} };
  const uri = stringifyUri(clean);
  return /[\s\u0000-\u001f\u007f<>"]/.test(uri) ? undefined : { uri, parsed: clean };
}
