/**
 * A new INVITE on its way through admission (steps.ts): what the request says, and what each step
 * has learned so far. A step either answers the call (and admission stops there) or fills in its
 * part and passes the call on.
 */
import type { Logger } from 'pino';
import type { CallOrigin } from '../../dialplan/selection.ts';
import { parseUri, type SipUri } from '../../sip/message.ts';
import type { ServerTransaction } from '../../sip/transactions.ts';
import { decodeUser } from '../../sip/wireValues.ts';
import type { Provider } from '../../store/providers.ts';
import type { SipAccount } from '../../store/sipAccounts.ts';
import type { CallerKind } from '../callBudgets.ts';
import type { Party } from '../events.ts';
import { partyOf } from '../parties.ts';

export interface NewCall {
  readonly tx: ServerTransaction;
  /** The caller as From names it, the callee as To names it. */
  readonly from: Party;
  readonly to: Party;
  readonly requestUri: SipUri | undefined;
  /** The user called: the Request-URI's (decoded); for a provider's call, the number in To. */
  calledUser: string;
  /** The provider entry the call comes from (identifyProvider). */
  provider?: Provider;
  /** The caller says it is one of our accounts: From names one, or it sent credentials. */
  claimsAccount: boolean;
  /** The account the Request-URI names, whoever's it is. */
  addressed: SipAccount | null;
  /** Who placed the call and whose it is (identifyCaller). */
  kind?: CallerKind;
  caller?: SipAccount;
  callee?: SipAccount;
  origin?: CallOrigin;
  tenantId?: string;
  /** Carries the tenant once it is known. */
  log: Logger;
}

/** A step of admission: true when it answered the call (admission ends), false to pass it on. */
export type AdmissionStep = (call: NewCall) => boolean | Promise<boolean>;

export function newCallOf(tx: ServerTransaction, domain: string, log: Logger): NewCall {
  const req = tx.request;
  const requestUri = parseUri(req.uri);
  return {
    tx,
    from: partyOf(req.headers.from, domain),
    to: partyOf(req.headers.to, domain),
    requestUri,
    calledUser: requestUri?.user ? decodeUser(requestUri.user) : '',
    claimsAccount: false,
    addressed: null,
    log: log.child({ sipCallId: req.headers['call-id'] }),
  };
}

/** Runs the steps in order until one answers the call; true when one did. */
export async function admit(steps: readonly AdmissionStep[], call: NewCall): Promise<boolean> {
  for (const step of steps) if (await step(call)) return true;
  return false;
}
