/**
 * Whether two SIP URIs name the same resource: the comparison of RFC 3261 §19.1.4, made a little
 * more forgiving where real phones differ from the Request-URI they send without meaning another
 * resource. Used to check that digest credentials were computed for this request's Request-URI
 * (RFC 7616 §3.4.6; RFC 2617 §3.2.2.5), so credentials made for one resource cannot be presented
 * for another.
 *
 * As §19.1.4: scheme, user and password exact (user after unescaping), host without case, a
 * parameter present in both must match without case, `user`, `ttl`, `method` and `maddr` must be in
 * both or neither, other parameters present in only one are ignored (so `;transport=udp` on one
 * side only is fine), URI headers must be the same. More forgiving: a missing port equals the
 * scheme's default port (§19.1.4 says it does not, but phones drop or add `:5060` freely).
 *
 * For digest credentials (`digestUriNames`), one more allowance: credentials whose `uri` names no
 * user stand for the host the request went to, whatever user its Request-URI names. sipp computes
 * every request's credentials over `sip:host:port` (an INVITE to `sip:bob@host` too), and older
 * phones do the same. Credentials that do name a user must name the Request-URI's.
 */
import { parseUri, type Params, type SipUri } from './message.ts';

const DEFAULT_PORT: Record<string, number> = { sip: 5060, sips: 5061 };
const MUST_BE_IN_BOTH = ['user', 'ttl', 'method', 'maddr'];

function unescaped(s: string | undefined): string {
  if (s === undefined) return '';
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function lowerKeys(params: Params): Map<string, string | null> {
  return new Map(Object.entries(params).map(([k, v]) => [k.toLowerCase(), v === null ? null : v.toLowerCase()]));
}

function portOf(u: SipUri, scheme: string): number | undefined {
  return Number.isFinite(u.port) && u.port! > 0 ? u.port : DEFAULT_PORT[scheme];
}

function sameParams(a: Params, b: Params): boolean {
  const x = lowerKeys(a);
  const y = lowerKeys(b);
  for (const [k, v] of x) if (y.has(k) && y.get(k) !== v) return false;
  return MUST_BE_IN_BOTH.every((k) => x.has(k) === y.has(k));
}

function sameHeaders(a: Record<string, string>, b: Record<string, string>): boolean {
  const x = Object.entries(a)
    .map(([k, v]) => `${k.toLowerCase()}=${unescaped(v)}`)
    .sort();
  const y = Object.entries(b)
    .map(([k, v]) => `${k.toLowerCase()}=${unescaped(v)}`)
    .sort();
  return x.length === y.length && x.every((h, i) => h === y[i]);
}

export function sameSipUri(a: string, b: string): boolean {
  if (a === b) return true;
  const x = parseUri(a);
  const y = parseUri(b);
  // Not SIP URIs we can read (tel:, IPv6 hosts the parser does not take): only the same text is the same.
  if (!x || !y) return a.trim().toLowerCase() === b.trim().toLowerCase();
  const scheme = x.schema.toLowerCase();
  return (
    scheme === y.schema.toLowerCase() &&
    unescaped(x.user) === unescaped(y.user) &&
    unescaped(x.password) === unescaped(y.password) &&
    x.host.toLowerCase() === y.host.toLowerCase() &&
    portOf(x, scheme) === portOf(y, scheme) &&
    sameParams(x.params, y.params) &&
    sameHeaders(x.headers, y.headers)
  );
}

/** Whether digest credentials computed over `credentialUri` are for a request to `requestUri`. */
export function digestUriNames(credentialUri: string, requestUri: string): boolean {
  if (sameSipUri(credentialUri, requestUri)) return true;
  const credentials = parseUri(credentialUri);
  const request = parseUri(requestUri);
  if (!credentials || !request || credentials.user !== undefined || request.user === undefined) return false;
  return sameSipUri(credentialUri, requestUri.replace(/^(sips?:)[^@]*@/i, '$1'));
}
