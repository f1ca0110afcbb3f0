/**
 * Carries out a dialplan's dial(): groups one after another (`|`), the legs of a group at once
 * (`&`), every registered contact of an account as its own leg. The first answer wins and the
 * other legs are cancelled; when every leg of a group fails, the next group is tried. The same
 * ringing serves a transfer's new leg and the legs a restarted node resumes.
 */
import type { DialLeg, DialOutcome, DialResult, DialSpec, LegOptions } from '../dialplan/types.ts';
import { mostTelling } from '../domain/outcomes.ts';
import { internationalRefusal, type TollPolicy } from '../providers/internationalCalls.ts';
import { sipUri } from '../sip/wireValues.ts';
import type { Call } from './call.ts';
import type { LimitName } from './callBudgets.ts';
import type { Channel, PendingInvite } from './channel.ts';
import type { Destination, DestinationResolver } from './destinations.ts';
import type { HangupCause, Party } from './events.ts';
import { dialPurpose, OutboundLeg, type LegOutcome, type LegPurpose } from './outboundLeg.ts';

export interface DialerDeps {
  domain: string;
  destinations: DestinationResolver;
  /** The tenant's home country and whether its provider legs may call abroad; without it, they may. */
  tollPolicy?(tenantId: string): Promise<TollPolicy | undefined>;
  refused?: RefusalCounter;
}

/** What the toll-fraud limits refused (a Prometheus counter). */
export interface RefusalCounter {
  inc(labels: { limit: LimitName | 'international' }): void;
}

/** One leg of a group, ready to ring: how to start each of its legs, or why the switch will not. */
interface LegPlan {
  target: string;
  /** Seconds to wait before starting. */
  delay: number;
  starts: Array<() => OutboundLeg>;
  /** Why the leg is refused before anything is sent (calls abroad off), for the tenant's log. */
  refusal?: string;
  /** The leg names no account of the tenant (a number or name nobody has): Not Found, as without a dialplan. */
  nobody?: boolean;
}

/** The dial's result when every leg of a group failed: its most telling failure. */
function worst(results: Array<{ result: DialOutcome; status?: number; target: string }>): DialResult {
  const hit = mostTelling(results);
  return hit ? { answered: false, result: hit.result, ...(hit.status ? { sipStatus: hit.status } : {}), target: hit.target } : { answered: false, result: 'unavailable' };
}

export class Dialer {
  constructor(private readonly deps: DialerDeps) {}

  async dial(call: Call, spec: DialSpec, caller: Party, signal: AbortSignal, purpose: LegPurpose = dialPurpose(call)): Promise<DialResult> {
    let last: DialResult = { answered: false, result: 'unavailable' };
    for (const group of spec.groups) {
      // The caller answered already (or gone) needs no more groups; one the dialplan answered itself may still be connected.
      if (signal.aborted || (purpose.answersCaller && !call.awaitsParty)) return { answered: false, result: 'cancelled' };
      const result = await this.ring(call, () => Promise.all(group.map((leg) => this.plan(leg, call, caller, purpose))), signal);
      if (result.answered) return result;
      last = result;
    }
    return last;
  }

  /**
   * Rings a destination known already, outside any dialplan: a transfer inviting the phone at the
   * other end of another call's dialog.
   */
  ringDestination(call: Call, dest: Destination, caller: Party, options: LegOptions, purpose: LegPurpose): Promise<DialResult> {
    return this.ring(call, async () => [{ target: dest.target, delay: 0, starts: [() => OutboundLeg.place(call, dest, caller, options, purpose)] }]);
  }

  /**
   * The legs a previous run of this node was ringing for the caller when it stopped: they ring on
   * as one group, the first answer wins, the rest are cancelled.
   */
  resumeRinging(call: Call, ringing: Array<{ channel: Channel; pending: PendingInvite }>): Promise<DialResult> {
    const purpose = dialPurpose(call);
    return this.ring(call, async () =>
      ringing.map(({ channel, pending }) => ({
        target: channel.init.target ?? channel.init.to.user,
        delay: 0,
        starts: [() => OutboundLeg.resume(call, channel, pending, purpose)],
      })),
    );
  }

  /** Where a leg rings, or why the switch refuses to place it (calls abroad off). */
  private async plan(leg: DialLeg, call: Call, caller: Party, purpose: LegPurpose): Promise<LegPlan> {
    const base = { target: leg.target, delay: leg.options.delay };
    const refusal = leg.kind === 'provider' ? internationalRefusal(leg, await this.deps.tollPolicy?.(call.tenantId)) : undefined;
    if (refusal) return { ...base, starts: [], refusal };
    const from = leg.options.callerId ? { user: leg.options.callerId, host: this.deps.domain, uri: sipUri(leg.options.callerId, this.deps.domain) } : caller;
    const dests = await this.deps.destinations.forLeg(leg, call.tenantId, caller, call.log);
    if (!dests.length && leg.kind === 'account' && !(await this.deps.destinations.isAccount(leg.account, call.tenantId))) return { ...base, starts: [], nobody: true };
    return { ...base, starts: dests.map((dest) => () => OutboundLeg.place(call, dest, from, leg.options, purpose)) };
  }

  /** Rings the legs `plan` gives at once; the first answer wins and the others are cancelled. */
  private async ring(call: Call, plan: () => Promise<LegPlan[]>, signal?: AbortSignal): Promise<DialResult> {
    const failures: Array<{ result: DialOutcome; status?: number; target: string }> = [];
    const legs: OutboundLeg[] = [];
    const delayed = new Set<NodeJS.Timeout>();
    let stopped: HangupCause | undefined;
    const cancelAll = (cause: HangupCause) => {
      stopped = cause;
      for (const t of delayed) clearTimeout(t);
      for (const leg of legs) leg.cancel(cause);
    };
    const untrack = call.trackDial({ cancel: cancelAll });
    const onAbort = () => cancelAll('cancelled');
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const outcomes: Array<Promise<{ o: LegOutcome; target: string }>> = [];
      for (const { refusal, nobody, starts, target, delay } of await plan()) {
        if (refusal) {
          this.refuse(call, target, refusal);
          failures.push({ result: 'rejected:403', status: 403, target });
          continue;
        }
        if (nobody) {
          call.log.info({ target }, 'dial leg names no phone of the tenant');
          failures.push({ result: 'rejected:404', status: 404, target });
          continue;
        }
        if (!starts.length) {
          call.log.info({ target }, 'dial leg has nowhere to ring');
          failures.push({ result: 'unavailable', target });
          continue;
        }
        for (const start of starts) {
          outcomes.push(
            new Promise((resolve) => {
              const launch = () => {
                if (stopped) return resolve({ o: { answered: false, result: 'cancelled' }, target });
                const leg = start();
                legs.push(leg);
                void leg.outcome.then((o) => resolve({ o, target }));
              };
              if (delay > 0) {
                const t = setTimeout(() => {
                  delayed.delete(t);
                  launch();
                }, delay * 1000);
                delayed.add(t);
              } else launch();
            }),
          );
        }
      }
      // Settle as soon as one leg answers; otherwise when all have failed.
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

  /** A leg the switch will not place: counted, and said in the call's log for the tenant. */
  private refuse(call: Call, target: string, refusal: string): void {
    call.log.warn({ target, channelId: call.inbound.id }, 'dial leg refused: international calls are off for the tenant');
    this.deps.refused?.inc({ limit: 'international' });
    call.bus.emit({ type: 'dialplan.log', tenantId: call.tenantId, callId: call.id, channelId: call.inbound.id, level: 'warn', message: refusal });
  }
}
