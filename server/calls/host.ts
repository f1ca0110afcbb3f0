/**
 * What a dialplan's calls (dial, respond, log, store, registrations) do for one real call. The
 * runner has validated every argument; this is the trusted side that acts.
 */
import type { DialplanHost, DialResult, LogLevel, Registration } from '../dialplan/types.ts';
import type { TenantScope } from '../store/index.ts';
import type { LocationStore } from '../store/registrations.ts';
import type { SipAccount } from '../store/sipAccounts.ts';
import type { Call } from './call.ts';
import type { Dialer } from './dialer.ts';
import type { LegPurpose } from './outboundLeg.ts';
import type { HangupCause, Party } from './events.ts';
import { answerToCaller, causeOfResponse } from '../domain/outcomes.ts';
import { resolveExtensions } from './extensions.ts';

export interface CallHost extends DialplanHost {
  /** The outcome of the last dial, for the final answer when the script ends without one. */
  lastDial(): DialResult | undefined;
}

/**
 * Why the call ends when the dialplan answers the caller itself: passing on the failure of its
 * last dial (480 after a dial to a phone that is not registered) keeps that dial's reason
 * (unavailable, not "no answer"); any other status is read as it is.
 */
function causeOf(status: number, last: DialResult | undefined): HangupCause {
  if (last && !last.answered) {
    const passedOn = answerToCaller(last);
    if (passedOn.status === status) return passedOn.cause;
  }
  return causeOfResponse(status);
}

export function callHost(o: {
  call: Call;
  scope: TenantScope;
  location: LocationStore;
  dialer: Dialer;
  caller: Party;
  channelId: string;
  account(username: string): Promise<SipAccount | null>;
  /** What the legs this host dials do when they answer: by default, answer the caller. */
  purpose?: LegPurpose;
  /** What `respond` does: by default, answer the caller with it. */
  respond?(status: number, reason?: string): void;
}): CallHost {
  const { call, scope } = o;
  let last: DialResult | undefined;
  return {
    async dial(spec, signal) {
      last = await o.dialer.dial(call, await resolveExtensions(spec, scope), o.caller, signal, o.purpose);
      return last;
    },
    async respond(status, reason) {
      if (o.respond) o.respond(status, reason);
      else if (status < 200) call.progress(status, reason);
      else call.reject(status, reason, causeOf(status, last));
    },
    log(level: LogLevel, message: string) {
      call.bus.emit({ type: 'dialplan.log', tenantId: call.tenantId, callId: call.id, channelId: o.channelId, level, message });
    },
    store: {
      get: (key) => scope.kv.get(key),
      set: (key, value) => scope.kv.set(key, value),
      delete: (key) => scope.kv.delete(key),
      keys: (prefix) => scope.kv.keys(prefix),
    },
    async registrations(user): Promise<Registration[]> {
      const now = Date.now();
      const account = await o.account(user);
      if (!account) return [];
      return (await o.location.bindings(account.id, now)).map((b) => ({
        contact: b.contactUri,
        ...(b.userAgent ? { userAgent: b.userAgent } : {}),
        expiresAt: new Date(b.expiresAt).toISOString(),
      }));
    },
    lastDial: () => last,
  };
}
