/**
 * Request handling as a list of small steps: each one either answers the request (returns true)
 * or passes it on. The last step answers whatever nobody claimed.
 */
import type { RequestHandler } from './stack.ts';
import { ALLOWED_METHODS } from './responses.ts';
import type { ServerTransaction } from './transactions.ts';
import type { AnyPeer, Peer } from './transport.ts';

/** A step of the call path (`Peer`: the transports it takes) or of the SIP layer itself (`AnyPeer`). */
export type Step<P extends AnyPeer = Peer> = (tx: ServerTransaction<P>) => boolean | Promise<boolean>;

export function pipeline(steps: Step<AnyPeer>[]): RequestHandler {
  return async (tx) => {
    for (const step of steps) {
      if (await step(tx)) return;
    }
  };
}

export function forMethod<P extends AnyPeer = AnyPeer>(method: string, handle: (tx: ServerTransaction<P>) => Promise<void> | void): Step<P> {
  return async (tx) => {
    if (tx.request.method !== method) return false;
    await handle(tx);
    return true;
  };
}

/** OPTIONS to the switch: a liveness answer that says what we support (RFC 3261 §11.2). */
export const answerOptions: Step<AnyPeer> = forMethod('OPTIONS', (tx) => {
  tx.respond(200, 'OK', { allow: ALLOWED_METHODS, accept: 'application/sdp', 'accept-language': 'en', supported: 'path' });
});

/** Final step: a proper final response for every method nobody handled. */
export const answerUnhandled: Step<AnyPeer> = (tx) => {
  switch (tx.request.method) {
    case 'CANCEL':
    case 'BYE':
      // No call state exists for it (RFC 3261 §9.2, §15.1.2).
      tx.respond(481);
      break;
    default:
      tx.respond(501, 'Not Implemented', { allow: ALLOWED_METHODS });
  }
  return true;
};
