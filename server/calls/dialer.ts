/**
 * Carries out a dialplan's dial(): groups one after another (`|`), the legs of a group at once
 * (`&`), every registered contact of an account as its own branch. The first answer wins and the
 * other branches are cancelled; when every branch of a group fails, the next group is tried.
 */
import type { DialLeg, DialOutcome, DialResult, DialSpec, LegOptions } from '../dialplan/types.ts';
import { decodeUser, targetUri } from '../sip/wireValues.ts';
import { allowedHops, type HopLookup } from '../providers/allowedHops.ts';
import type { LocationStore } from '../store/registrations.ts';
import type { SipAccount } from '../store/sipAccounts.ts';
import { Branch, dialPurpose, type BranchOutcome, type BranchPurpose, type Destination } from './branch.ts';
import type { Call } from './call.ts';
import type { LimitName } from './callBudgets.ts';
import type { HangupCause, Party } from './events.ts';
import { providerDestinations, type ProviderDestinationDeps } from '../providers/outbound.ts';
import type { Logger } from 'pino';
import { internationalRefusal, type TollPolicy } from '../providers/internationalCalls.ts';
import { mostTelling } from '../domain/outcomes.ts';

export interface DialerDeps {
  domain: string;
  location: LocationStore;
  /** An account by its switch-wide username (any tenant's: the dialer checks whose it is). */
  account(username: string): Promise<SipAccount | null>;
  /** Providers for `number@provider` legs; without them such legs cannot ring. */
  providers?: ProviderDestinationDeps;
  /** How SIP URI legs are resolved, and where they may go. */
  hops: HopLookup;
  /** The tenant's home country and whether its provider legs may call abroad; without it, they may. */
  tollPolicy?(tenantId: string): Promise<TollPolicy | undefined>;
  refused?: RefusalCounter;
}

/** What the toll-fraud limits refused (a Prometheus counter). */
export interface RefusalCounter {
  inc(labels: { limit: LimitName | 'international' }): void;
}

/** One leg ready to ring: its destinations, or why the switch will not place it (for the tenant's log). */
interface LegPlan {
  target: string;
  options: LegOptions;
  dests: Destination[];
  refusal?: string;
}

/** The dial's result when every leg of a group failed: its most telling failure. */
function worst(results: Array<{ result: DialOutcome; status?: number; target: string }>): DialResult {
  const hit = mostTelling(results);
  return hit ? { answered: false, result: hit.result, ...(hit.status ? { sipStatus: hit.status } : {}), target: hit.target } : { answered: false, result: 'unavailable' };
}

export class Dialer {
  constructor(private readonly deps: DialerDeps) {}

  /** Where a leg rings: one destination per registered contact, or the URI itself. */
  async destinations(leg: DialLeg, tenantId: string, caller: Party, log: Logger): Promise<Destination[]> {
    const domain = this.deps.domain;
    if (leg.kind === 'account') {
      const account = await this.deps.account(leg.account);
      // A dialplan reaches its own tenant's phones only; another tenant's account is not there.
      if (!account || !account.enabled || account.tenantId !== tenantId) return [];
      const to: Party = { user: account.username, host: domain, uri: `sip:${account.username}@${domain}` };
      const bindings = await this.deps.location.bindings(account.id, Date.now());
      return bindings.map((b) => ({
        requestUri: b.contactUri,
        to,
        // NAT: the phone is reached where its REGISTER came from, not where its Contact claims.
        peer: { transport: b.transport === 'tcp' ? 'tcp' : 'udp', address: b.sourceIp, port: b.sourcePort },
        target: leg.target,
        account: account.username,
      }));
    }
    if (leg.kind === 'uri') return this.uriDestinations(leg, log);
    if (!this.deps.providers) return [];
    return providerDestinations(
      this.deps.providers,
      tenantId,
      { number: leg.number, provider: leg.provider, target: leg.target, ...(leg.options.callerId ? { callerId: leg.options.callerId } : {}) },
      caller,
      log,
    );
  }

  /**
   * A SIP URI: without maddr or URI headers, resolved as RFC 3263 says (SRV, then A/AAAA, through
   * DNS_SERVERS), dialled at the first address the destination policy allows, the others kept for
   * failover. `sips:` needs TLS, which this switch does not speak yet.
   */
  private async uriDestinations(leg: Extract<DialLeg, { kind: 'uri' }>, log: Logger): Promise<Destination[]> {
    const target = targetUri(leg.uri);
    if (!target || target.parsed.schema.toLowerCase() !== 'sip') {
      log.info({ target: leg.target }, 'dial leg is not a SIP URI this switch can call');
      return [];
    }
    const { parsed, uri } = target;
    const transport = String(parsed.params.transport ?? 'udp').toLowerCase() === 'tcp' ? 'tcp' : 'udp';
    const host = parsed.host.replace(/^\[|\]$/g, '');
    const [first, ...alternates] = await allowedHops(this.deps.hops, { host, port: parsed.port || null, transport }, log, { target: leg.target });
    if (!first) return [];
    const user = parsed.user ? decodeUser(parsed.user) : '';
    return [{ requestUri: uri, to: { user, host: parsed.host, uri }, peer: first, alternates, target: leg.target }];
  }

  async dial(call: Call, spec: DialSpec, caller: Party, signal: AbortSignal, purpose: BranchPurpose = dialPurpose(call)): Promise<DialResult> {
    let last: DialResult = { answered: false, result: 'unavailable' };
    for (const group of spec.groups) {
      if (signal.aborted || (purpose.answersCaller && call.finalSent)) return { answered: false, result: 'cancelled' };
      const result = await this.dialGroup(call, group, caller, signal, purpose);
      if (result.answered) return result;
      last = result;
    }
    return last;
  }

  private dialGroup(call: Call, group: DialLeg[], caller: Party, signal: AbortSignal, purpose: BranchPurpose): Promise<DialResult> {
    return this.ring(call, () => Promise.all(group.map((leg) => this.plan(leg, call, caller))), caller, purpose, signal);
  }

  /**
   * Rings a destination known already, outside any dialplan: a transfer inviting the phone at the
   * other end of another call's dialog.
   */
  ringDestination(call: Call, dest: Destination, caller: Party, options: LegOptions, purpose: BranchPurpose): Promise<DialResult> {
    return this.ring(call, async () => [{ target: dest.target, options, dests: [dest] }], caller, purpose);
  }

  /** Where a leg rings, or why the switch refuses to place it (calls abroad off). */
  private async plan(leg: DialLeg, call: Call, caller: Party): Promise<LegPlan> {
    const refusal = leg.kind === 'provider' ? internationalRefusal(leg, await this.deps.tollPolicy?.(call.tenantId)) : undefined;
    if (refusal) return { target: leg.target, options: leg.options, dests: [], refusal };
    return { target: leg.target, options: leg.options, dests: await this.destinations(leg, call.tenantId, caller, call.log) };
  }

  /** Rings the legs `plan` gives at once; the first answer wins and the other branches are cancelled. */
  private async ring(call: Call, plan: () => Promise<LegPlan[]>, caller: Party, purpose: BranchPurpose, signal?: AbortSignal): Promise<DialResult> {
    const failures: Array<{ result: DialOutcome; status?: number; target: string }> = [];
    const branches: Branch[] = [];
    const delayed = new Set<NodeJS.Timeout>();
    let stopped: HangupCause | undefined;
    const cancelAll = (cause: HangupCause) => {
      stopped = cause;
      for (const t of delayed) clearTimeout(t);
      for (const b of branches) b.cancel(cause);
    };
    const untrack = call.trackDial({ cancel: cancelAll });
    const onAbort = () => cancelAll('cancelled');
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const outcomes: Array<Promise<{ o: BranchOutcome; target: string }>> = [];
      for (const { refusal, dests, ...leg } of await plan()) {
        if (refusal) {
          call.log.warn({ target: leg.target, channelId: call.inbound.id }, 'dial leg refused: international calls are off for the tenant');
          this.deps.refused?.inc({ limit: 'international' });
          call.bus.emit({ type: 'dialplan.log', tenantId: call.tenantId, callId: call.id, channelId: call.inbound.id, level: 'warn', message: refusal });
          failures.push({ result: 'rejected:403', status: 403, target: leg.target });
          continue;
        }
        if (!dests.length) {
          call.log.info({ target: leg.target }, 'dial leg has nowhere to ring');
          failures.push({ result: 'unavailable', target: leg.target });
          continue;
        }
        for (const dest of dests) {
          outcomes.push(
            new Promise((resolve) => {
              const launch = () => {
                if (stopped) return resolve({ o: { answered: false, result: 'cancelled' }, target: leg.target });
                const from = leg.options.callerId ? { user: leg.options.callerId, host: this.deps.domain, uri: `sip:${leg.options.callerId}@${this.deps.domain}` } : caller;
                const b = new Branch(call, dest, from, leg.options, purpose);
                branches.push(b);
                b.start();
                void b.outcome.then((o) => resolve({ o, target: leg.target }));
              };
              if (leg.options.delay > 0) {
                const t = setTimeout(() => {
                  delayed.delete(t);
                  launch();
                }, leg.options.delay * 1000);
                delayed.add(t);
              } else launch();
            }),
          );
        }
      }
      // Settle as soon as one branch answers; otherwise when all have failed.
      const answered = await new Promise<{ target: string; status: number } | undefined>((resolve) => {
        let pending = outcomes.length;
        if (!pending) resolve(undefined);
        for (const p of outcomes) {
          void p.then(({ o, target }) => {
            if (o.answered) resolve({ target, status: o.status });
            else failures.push({ result: o.result, ...(o.status ? { status: o.status } : {}), target });
            if (--pending === 0) resolve(undefined);
          });
        }
      });
      if (answered) return { answered: true, result: 'answered', sipStatus: answered.status, target: answered.target };
      return stopped === 'cancelled' ? { answered: false, result: 'cancelled' } : worst(failures);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      untrack();
      call.maybeEnd();
    }
  }
}
