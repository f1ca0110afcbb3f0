import { randomToken } from './random.ts';
import type { Headers, SipRequest, SipResponse } from './message.ts';

export const REASONS: Record<number, string> = {
  100: 'Trying',
  180: 'Ringing',
  181: 'Call Is Being Forwarded',
  182: 'Queued',
  183: 'Session Progress',
  200: 'OK',
  202: 'Accepted',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  410: 'Gone',
  415: 'Unsupported Media Type',
  416: 'Unsupported URI Scheme',
  420: 'Bad Extension',
  423: 'Interval Too Brief',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  482: 'Loop Detected',
  483: 'Too Many Hops',
  484: 'Address Incomplete',
  486: 'Busy Here',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  491: 'Request Pending',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Server Time-out',
  513: 'Message Too Large',
  600: 'Busy Everywhere',
  603: 'Decline',
  604: 'Does Not Exist Anywhere',
  606: 'Not Acceptable',
};

export const SERVER_NAME = 'sipswitch';
export const ALLOWED_METHODS = 'INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, REFER, NOTIFY, UPDATE, INFO';

export function newTag(): string {
  return randomToken(6);
}

/**
 * Builds a response that copies Via, From, To, Call-ID and CSeq from the request (RFC 3261 §8.2.6)
 * as fresh objects: the request stays untouched for retransmission matching.
 */
export function buildResponse(req: SipRequest, status: number, reason: string | undefined, toTag: string, extra: Headers = {}): SipResponse {
  const h = req.headers;
  const headers: Headers = {};
  if (h.via) headers.via = h.via.map((v) => ({ ...v, params: { ...v.params } }));
  if (h.from) headers.from = { ...h.from, params: { ...h.from.params } };
  if (h.to) {
    const params = { ...h.to.params };
    if (status > 100 && !params.tag) params.tag = toTag;
    headers.to = { ...h.to, params };
  }
  if (h['call-id'] !== undefined) headers['call-id'] = h['call-id'];
  if (h.cseq) headers.cseq = { ...h.cseq };
  // RFC 3261 §12.1.1: a response that may set up a dialog carries the request's Record-Route, so
  // the caller's in-dialog requests go back through the proxies (the cluster's front door).
  if (status > 100 && status < 300 && h['record-route']) headers['record-route'] = h['record-route'];
  headers.server = SERVER_NAME;
  Object.assign(headers, extra);
  return { status, reason: reason ?? REASONS[status] ?? 'Unknown', version: '2.0', headers, content: '' };
}
