/**
 * Admission step: who places the call and whose call it is. A provider's call is its tenant's; a
 * caller that says it is one of our accounts must prove it (digest, 407); a stranger may call an
 * account (like e-mail), which makes it that account's tenant's call; anyone else must
 * authenticate. Unanswered challenges end admission here.
 */
import type { Logger } from 'pino';
import type { Authenticated } from '../../sip/authenticate.ts';
import type { ServerTransaction } from '../../sip/transactions.ts';
import type { AdmissionStep } from './newCall.ts';

export interface CallerAuthentication {
  /** Challenges or verifies the request (407 / Proxy-Authorization), answering it when it fails. */
  asProxy(tx: ServerTransaction, username: string): Promise<Authenticated | undefined>;
}

export function identifyCaller(auth: CallerAuthentication): AdmissionStep {
  return async (call) => {
    const { provider, addressed } = call;
    if (provider) {
      call.kind = 'provider';
      call.origin = { kind: 'provider', dialplan: provider.dialplan };
      call.tenantId = provider.tenantId;
    } else if (!call.claimsAccount && addressed?.enabled) {
      call.kind = 'stranger';
      call.callee = addressed;
      call.origin = { kind: 'to-account', callee: addressed };
      call.tenantId = addressed.tenantId;
    } else {
      const authed = await auth.asProxy(call.tx, call.from.user || 'anonymous');
      if (!authed) return true;
      call.kind = 'phone';
      call.caller = authed.account;
      call.origin = { kind: 'account', account: authed.account };
      call.tenantId = authed.account.tenantId;
    }
    call.log = tenantLog(call.log, call.tenantId);
    return false;
  };
}

const tenantLog = (log: Logger, tenantId: string) => log.child({ tenantId });
