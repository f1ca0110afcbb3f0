/**
 * The flood limit of DESIGN.md: new requests that carry no credentials are counted per source
 * address, and beyond the rate they are dropped unanswered, before any lookup. Answering a flood
 * would only amplify it; a real client retransmits and gets through when its source calms down.
 * Not counted: requests inside a dialog or for a transaction (To tag, CANCEL), which need state
 * we already hold, and requests whose credentials prove their source (a fresh nonce we issued to
 * it), whose failures the brute-force guard counts instead. Credentials anyone can make up (a
 * nonce we never issued to that address) are no way around the limit.
 */
import { KeyedRateLimiter } from './keyedRateLimiter.ts';
import type { SipRequest } from './message.ts';
import type { AnyPeer } from './transport.ts';

export type RequestAdmission = (req: SipRequest, source: AnyPeer) => boolean;

/** Burst allowed at once: this many seconds of the rate. */
const BURST_SECONDS = 10;

/**
 * An admission check for `perSecond` requests per source that neither belong to a dialog nor
 * carry credentials that `proveSource` accepts; none when 0.
 */
export function floodLimit(perSecond: number, proveSource: RequestAdmission): RequestAdmission | undefined {
  if (perSecond <= 0) return undefined;
  const limiter = new KeyedRateLimiter({ burst: perSecond * BURST_SECONDS, perSecond });
  return (req, source) =>
    Boolean(req.headers.to?.params.tag) ||
    req.method === 'CANCEL' ||
    (Boolean(req.headers.authorization || req.headers['proxy-authorization']) && proveSource(req, source)) ||
    limiter.take(source.address);
}
