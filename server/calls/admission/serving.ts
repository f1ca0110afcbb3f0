/** Admission steps that turn a call away before anyone is looked up. */
import type { AdmissionStep } from './newCall.ts';

/**
 * Shutting down: new calls are turned away with 503 and Retry-After (a phone or provider tries
 * another node, or this one once it is back).
 */
export function refuseWhileDraining(draining: () => boolean): AdmissionStep {
  return ({ tx }) => {
    if (!draining()) return false;
    tx.respond(503, 'Shutting Down', { 'retry-after': '5' });
    return true;
  };
}

/**
 * Every hop through the switch lowers Max-Forwards (outboundLeg.ts): a dialplan that dials the
 * switch itself ends here instead of looping (RFC 3261 §16.3).
 */
export const stopLoops: AdmissionStep = ({ tx }) => {
  if (Number(tx.request.headers['max-forwards'] ?? 70) > 0) return false;
  tx.respond(483, 'Too Many Hops');
  return true;
};
