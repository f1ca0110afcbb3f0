/**
 * Admission step: whether the call comes from one of a tenant's providers. Its entry's line token
 * in the Request-URI names it; otherwise the call must name a tenant by something it holds (an
 * account, a number) and come from an address that tenant's entry lists (providers/incoming.ts).
 * A caller that says it is one of our accounts is a phone, even from a provider's address (an
 * office's phones and its gateway often share one address).
 */
import type { Logger } from 'pino';
import { providerByLine, providerBySource, type ProviderLookup } from '../../providers/incoming.ts';
import type { SipAccount } from '../../store/sipAccounts.ts';
import type { AdmissionStep } from './newCall.ts';

export interface ProviderIdentification {
  /** Without providers, no call is a provider's. */
  directory?: ProviderLookup;
  /** The account of this name, whoever's; null during a database outage for a name not cached. */
  accountUnlessOutage(username: string): Promise<SipAccount | null>;
  account(username: string): Promise<SipAccount | null>;
  log: Logger;
}

export function identifyProvider(deps: ProviderIdentification): AdmissionStep {
  return async (call) => {
    const { tx, from, requestUri, to } = call;
    const byLine = deps.directory ? await providerByLine(deps.directory, requestUri) : { kind: 'none' as const };
    if (byLine.kind === 'unknown-line') {
      tx.respond(404, 'Unknown Line');
      return true;
    }
    if (byLine.kind === 'provider') call.provider = byLine.provider;
    else {
      const fromAccount = from.user ? await deps.accountUnlessOutage(from.user) : null;
      call.claimsAccount = Boolean(fromAccount || tx.request.headers['proxy-authorization']);
      if (call.claimsAccount) return false;
      call.addressed = call.calledUser ? await deps.account(call.calledUser) : null;
      if (!deps.directory) return false;
      const match = await providerBySource(deps.directory, requestUri, tx.source, { accountTenant: call.addressed?.tenantId, toUser: to.user });
      if (match.kind === 'ambiguous') {
        // Two tenants could each claim the call: whichever got it, the other would be robbed.
        deps.log.warn(
          { tenants: match.tenants, source: tx.source, requestUri: tx.request.uri, sipCallId: tx.request.headers['call-id'] },
          'incoming call matches more than one tenant: refused',
        );
        tx.respond(403, 'Ambiguous Destination');
        return true;
      }
      if (match.kind !== 'provider') return false;
      call.provider = match.provider;
    }
    // The Request-URI carries our registered Contact or the number; the number called is in To.
    call.calledUser = to.user || call.calledUser;
    return false;
  };
}
