import type { SipRequest } from './message.ts';

export interface Rejection {
  status: number;
  reason: string;
}

const TOKEN = /^[A-Za-z0-9.!%*_+`'~-]{1,32}$/;

/**
 * Checks what every handler relies on (RFC 3261 §8.2). Returns why the request is unacceptable, or
 * undefined. Runs before any handler, so handlers can trust these headers to be present and sane.
 */
export function validateRequest(req: SipRequest): Rejection | undefined {
  const h = req.headers;
  if (!TOKEN.test(req.method)) return { status: 400, reason: 'Bad Method' };
  if (!/^sips?:/i.test(req.uri)) {
    return /^[a-z][a-z0-9+.-]*:/i.test(req.uri) ? { status: 416, reason: 'Unsupported URI Scheme' } : { status: 400, reason: 'Bad Request-URI' };
  }
  if (!h.via?.length || !h.via[0]!.host) return { status: 400, reason: 'Missing Via' };
  if (!h.from?.uri) return { status: 400, reason: 'Missing From' };
  if (!h.to?.uri) return { status: 400, reason: 'Missing To' };
  const callId = h['call-id'];
  if (typeof callId !== 'string' || !callId.trim() || callId.length > 255) {
    return { status: 400, reason: 'Bad Call-ID' };
  }
  const cseq = h.cseq;
  if (!cseq || !Number.isInteger(cseq.seq) || cseq.seq < 0 || cseq.seq >= 2 ** 31) {
    return { status: 400, reason: 'Bad CSeq' };
  }
  if (cseq.method !== req.method) return { status: 400, reason: 'CSeq Method Mismatch' };
  const maxForwards = h['max-forwards'];
  if (maxForwards !== undefined && !/^\s*\d{1,3}\s*$/.test(String(maxForwards))) {
    return { status: 400, reason: 'Bad Max-Forwards' };
  }
  return undefined;
}

/** Enough of a request to address and build a response to it. */
export function canAnswer(req: SipRequest): boolean {
  return Boolean(req.headers.via?.length && req.headers.via[0]!.host && req.method !== 'ACK');
}
