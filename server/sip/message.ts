/**
 * Typed view of SIP messages over the `sip` package's parser and serializer. Only those two parts of
 * the package are used (see README.md in this folder); framing, limits and validation are ours.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
// patches/sip+0.0.6.patch exports the header parser and makes params objects prototype-free.
const sip = require('sip') as {
  parseHeaders(head: string): RawMessage | undefined;
  stringify(m: RawMessage): string;
  parseUri(s: string): SipUri | undefined;
  stringifyUri(u: SipUri | string): string;
};

export type Params = Record<string, string | null>;

export interface SipUri {
  schema: string;
  user?: string;
  password?: string;
  host: string;
  port?: number;
  params: Params;
  headers: Record<string, string>;
}

export interface NameAddr {
  name?: string;
  uri: string;
  params: Params;
}

export interface Via {
  version: string;
  protocol: string;
  host: string;
  port?: number;
  params: Params;
}

export interface CSeq {
  seq: number;
  method: string;
}

export interface AuthParams {
  scheme: string;
  [key: string]: string;
}

export interface Headers {
  via?: Via[];
  from?: NameAddr;
  to?: NameAddr;
  'call-id'?: string;
  cseq?: CSeq;
  contact?: NameAddr[] | '*';
  'content-length'?: number;
  authorization?: AuthParams[];
  'proxy-authorization'?: AuthParams[];
  'www-authenticate'?: AuthParams[];
  [name: string]: unknown;
}

interface RawMessage {
  method?: string;
  uri?: string;
  status?: number;
  reason?: string;
  version?: string;
  headers: Headers;
  content?: string;
}

export interface SipRequest {
  method: string;
  uri: string;
  version: string;
  headers: Headers;
  content: string;
}

export interface SipResponse {
  status: number;
  reason: string;
  version: string;
  headers: Headers;
  content: string;
}

export type SipMessage = SipRequest | SipResponse;

export function isRequest(m: SipMessage): m is SipRequest {
  return (m as SipRequest).method !== undefined;
}

/** Parses the header section (start line + headers, without the blank line). */
export function parseHead(head: string, body: string): SipMessage | undefined {
  const m = sip.parseHeaders(head);
  if (!m) return undefined;
  if (m.version !== '2.0') return undefined;
  if (m.method !== undefined) {
    return { method: m.method, uri: m.uri ?? '', version: m.version, headers: m.headers, content: body };
  }
  if (m.status !== undefined && m.status >= 100 && m.status <= 699) {
    return { status: m.status, reason: m.reason ?? '', version: m.version, headers: m.headers, content: body };
  }
  return undefined;
}

/** What would end a line or a string on the wire: CR and LF start a new header (or the body), NUL cuts it. */
const LINE_BREAK = /[\r\n\0]/;
/** RFC 3261 §25.1 token: a method or a header name. */
const TOKEN = /^[A-Za-z0-9\-.!%*_+`'~]+$/;
/** Deeper than any header value we build or parse (NameAddr → params → value). */
const MAX_DEPTH = 6;

/** True when some string inside `value` (a header's value, its parameters' names and values) holds a line break. */
function hidesLineBreak(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return LINE_BREAK.test(value);
  if (typeof value !== 'object' || value === null) return false;
  if (depth > MAX_DEPTH) return true;
  for (const [k, v] of Object.entries(value)) if (LINE_BREAK.test(k) || hidesLineBreak(v, depth + 1)) return true;
  return false;
}

/**
 * Whether the start line and headers can go on the wire as they are: no CR, LF or NUL anywhere in
 * them (the body may hold anything; Content-Length frames it), tokens where the grammar wants them,
 * and nothing in the Request-URI that would split the start line.
 */
function wireSafe(m: SipMessage): boolean {
  if (isRequest(m)) {
    if (!TOKEN.test(m.method) || typeof m.uri !== 'string' || /[\s\0]/.test(m.uri)) return false;
  } else if (!Number.isInteger(m.status) || LINE_BREAK.test(m.reason ?? '')) return false;
  if (LINE_BREAK.test(m.version ?? '')) return false;
  for (const [name, value] of Object.entries(m.headers)) {
    if (!TOKEN.test(name) || hidesLineBreak(value)) return false;
  }
  return true;
}

/**
 * Serializes a message to wire bytes, or undefined for the caller to count: when a value holds a
 * line break or NUL (whoever put it there, nothing is injected into the message or the stream),
 * and when the package's serializer throws (it does on some odd values that a peer can send us,
 * and we echo its Via/From/To).
 */
export function serialize(m: SipMessage): Buffer | undefined {
  if (!wireSafe(m)) return undefined;
  try {
    return Buffer.from(sip.stringify(m as RawMessage), 'utf8');
  } catch {
    return undefined;
  }
}

export function parseUri(s: string): SipUri | undefined {
  try {
    return sip.parseUri(s);
  } catch {
    return undefined;
  }
}

export function stringifyUri(u: SipUri): string {
  return sip.stringifyUri(u);
}

/** First value of a generic (string) header, e.g. `user-agent`, trimmed. */
export function headerText(m: SipMessage, name: string): string | undefined {
  const v = m.headers[name];
  return typeof v === 'string' ? v.trim() : undefined;
}

/** Reads an `Expires`-style integer header; undefined when absent, NaN when malformed. */
export function headerInt(m: SipMessage, name: string): number | undefined {
  const v = headerText(m, name);
  if (v === undefined) return undefined;
  return /^\d{1,10}$/.test(v) ? Number(v) : Number.NaN;
}
