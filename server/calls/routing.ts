/**
 * Where a call goes: the tenant's dialplan decides (selection.ts picks which), run in the sandbox
 * with the call's facts and a host whose dial() rings through the Dialer; without a dialplan, a call
 * to an account rings its phones and a phone calling a colleague rings the colleague's. Transfers
 * are routed the same way, as calls the tenant places (`call.transfer` set). When routing ends
 * without an answer, the caller is told what the outcome table says about the last dial. A
 * dialplan may answer the caller itself and play, collect and record (callerAudio.ts).
 */
import { refusalReason } from '../dialplan/refusal.ts';
import { selectDialplan, type CallOrigin, type SelectedDialplan } from '../dialplan/selection.ts';
import { ENGINE_STOPPED, type CallFacts, type DialplanRunner, type DialResult, type DialSpec, type ExecutionResult } from '../dialplan/types.ts';
import { answerToCaller } from '../domain/outcomes.ts';
import { headerText, type SipRequest, type SipUri } from '../sip/message.ts';
import { decodeUser } from '../sip/wireValues.ts';
import { newId } from '../store/ids.ts';
import type { Store } from '../store/index.ts';
import type { SipAccount } from '../store/sipAccounts.ts';
import type { NewCall } from './admission/newCall.ts';
import type { Call } from './call.ts';
import { callerAudio, type CallerAudioSettings } from './callerAudio.ts';
import type { Channel } from './channel.ts';
import type { Dialer } from './dialer.ts';
import type { EventBus } from './events.ts';
import { isExtension, phoneOfExtension } from './extensions.ts';
import { callHost, type CallHost } from './host.ts';
import type { LegPurpose } from './outboundLeg.ts';
import { asCallerAt } from './parties.ts';

export interface RoutingDeps {
  domain: string;
  store: Store;
  runner: DialplanRunner;
  dialer: Dialer;
  bus: EventBus;
  /** The dialplan's audio verbs on live calls; without it they refuse (as under direct media). */
  audio?: CallerAudioSettings;
}

/** A leg ringing every phone of `account` (routing without a dialplan); the tenant's phones may transfer the call. */
function ringAccount(account: SipAccount): DialSpec {
  return { groups: [[{ kind: 'account', account: account.username, target: account.username, options: { timeout: 30, delay: 0, transfer: 'phones' } }]] };
}

const EXPOSED_HEADERS = ['user-agent', 'p-asserted-identity', 'diversion', 'referred-by', 'subject', 'priority'];

function selectedHeaders(req: SipRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of EXPOSED_HEADERS) {
    const v = headerText(req, h);
    if (v) out[h] = v.slice(0, 512);
  }
  return out;
}

export class CallRouter {
  constructor(private readonly deps: RoutingDeps) {}

  /** The tenant's account of this name or extension, or null (another tenant's account is not there). */
  accountOf(tenantId: string): (username: string) => Promise<SipAccount | null> {
    return async (username) => {
      if (isExtension(username)) return phoneOfExtension(this.deps.store.tenant(tenantId), username);
      const a = await this.deps.store.sipAccountLookup.byUsername(username);
      return a && a.tenantId === tenantId ? a : null;
    };
  }

  /** Routes an admitted call and gives the caller its final answer if nothing else did. */
  async route(call: Call, c: NewCall & { origin: CallOrigin }): Promise<void> {
    const { store, dialer, domain } = this.deps;
    const scope = store.tenant(call.tenantId);
    const account = this.accountOf(call.tenantId);
    const host = callHost({ call, scope, location: store.location, dialer, caller: asCallerAt(c.from, domain), channelId: call.inbound.id, account });
    // The call lasts at least as long as its routing: its events belong to this call.
    const untrack = call.trackDial({ cancel: () => {} });
    let audio: ReturnType<typeof callerAudio>;
    let failed = false;
    let nodeStopping = false;
    try {
      const dialplan = await selectDialplan(scope, c.origin);
      if (dialplan) {
        // Made before the script runs: a digit pressed while it starts is kept for its collect().
        audio = this.deps.audio && callerAudio(call, scope, this.deps.audio);
        call.audio = audio;
        ({ failed, nodeStopping } = await this.runDialplan(call, audio ? { ...host, audio } : host, dialplan, c));
      } else {
        const target = c.origin.kind === 'to-account' ? c.origin.callee : await account(c.calledUser);
        if (target) await host.dial(ringAccount(target), new AbortController().signal);
      }
    } catch (err) {
      failed = true;
      c.log.error({ err, channelId: call.inbound.id }, 'call handling failed');
      call.reject(500, 'Server Internal Error', 'switch-error');
    }
    if (!call.finalSent) {
      const { status, reason, cause } = answerToCaller(host.lastDial());
      call.reject(status, reason, cause);
    }
    if (audio) this.dialplanAudioOver(call, audio, failed, nodeStopping);
    untrack();
    call.maybeEnd();
  }

  /**
   * The dialplan is over: its audio listens no more, and a caller it answered itself and left
   * neither connected nor hung up would sit in silence until the call's time limit: it is hung up
   * (its record says `dialplan-error` when the script failed rather than ended). Not when the
   * node is stopping: its SIP is down already, and the call, persisted, is ended by the next run
   * (recovery.ts), which the caller then hears of.
   */
  private dialplanAudioOver(call: Call, audio: NonNullable<ReturnType<typeof callerAudio>>, failed: boolean, nodeStopping: boolean): void {
    audio.close();
    call.audio = undefined;
    if (nodeStopping) return;
    if (call.answeredBySwitch && call.inbound.live && !call.answered) {
      call.inbound.log.info({ failed }, 'the dialplan ended with the caller it answered still on the line: hanging up');
      call.hangupBySwitch(failed ? 'dialplan-error' : 'normal');
    }
  }

  /**
   * Runs the call's dialplan; resolves with whether it failed (an error, a time limit, a crash), and
   * whether that was only the node stopping (the engine ended it).
   */
  private async runDialplan(call: Call, host: CallHost, dialplan: SelectedDialplan, c: NewCall): Promise<{ failed: boolean; nodeStopping: boolean }> {
    const inbound = call.inbound;
    const target = c.caller ? await this.accountOf(call.tenantId)(c.calledUser) : null;
    const source = c.tx.source;
    const facts: CallFacts = {
      id: call.id,
      channelId: inbound.id,
      direction: c.caller ? (target ? 'local' : 'out') : 'in',
      from: c.from,
      to: { user: c.calledUser || c.to.user, host: c.to.host, uri: c.to.uri },
      requestUri: c.tx.request.uri,
      headers: selectedHeaders(c.tx.request),
      source: { address: source.address, port: source.port, transport: source.transport },
      ...(c.caller ? { account: c.caller.username } : {}),
      ...(c.provider ? { provider: c.provider.name } : {}),
    };
    const result = await this.execute(call, host, dialplan, facts);
    const failed = result.outcome !== 'completed' && result.outcome !== 'responded';
    const nodeStopping = result.outcome === 'crashed' && result.error?.message === ENGINE_STOPPED;
    if (call.finalSent) return { failed, nodeStopping };
    if (result.outcome === 'rejected') call.reject(503, refusalReason(result.refusal), 'dialplan-error');
    else if (failed) {
      call.log.warn({ channelId: inbound.id, outcome: result.outcome, error: result.error?.message }, 'dialplan failed');
      call.reject(500, 'Dialplan Failed', 'dialplan-error');
    }
    return { failed, nodeStopping };
  }

  /**
   * Where a transfer goes, decided as a call the tenant places: by the transferer's own dialplan if
   * it is one of the tenant's phones, else by the tenant's `default`, run with `call.transfer` set
   * (its dials ring for the transferee, its `respond` refuses the transfer); with no dialplan, only
   * the tenant's accounts can be reached, as for its phones' calls.
   */
  async routeTransfer(call: Call, transferer: Channel, transferee: Channel, target: { uri: string; parsed: SipUri }, purpose: LegPurpose): Promise<DialResult> {
    const { store, dialer, domain } = this.deps;
    const scope = store.tenant(call.tenantId);
    const accountOf = this.accountOf(call.tenantId);
    const user = target.parsed.user ? decodeUser(target.parsed.user) : '';
    const party = transferee.direction === 'inbound' ? transferee.init.from : transferee.init.to;
    let refusedWith: number | undefined;
    const host = callHost({
      call,
      scope,
      location: store.location,
      dialer,
      caller: asCallerAt(party, domain),
      channelId: transferer.id,
      account: accountOf,
      purpose,
      respond: (status) => {
        if (status >= 300) refusedWith ??= status;
      },
    });
    const transfererAccount = transferer.init.account ? await accountOf(transferer.init.account) : null;
    const dialplan = await selectDialplan(scope, transfererAccount ? { kind: 'account', account: transfererAccount } : { kind: 'tenant' });
    const colleague = user ? await accountOf(user) : null;
    if (!dialplan) {
      if (!colleague) return { answered: false, result: 'rejected:404', sipStatus: 404 };
      return host.dial(ringAccount(colleague), new AbortController().signal);
    }
    const facts: CallFacts = {
      id: call.id,
      channelId: transferer.id,
      direction: colleague ? 'local' : 'out',
      from: party,
      to: { user, host: target.parsed.host, uri: target.uri },
      requestUri: target.uri,
      headers: {},
      source: { address: transferer.peer.address, port: transferer.peer.port, transport: transferer.peer.transport },
      ...(transferer.init.account ? { account: transferer.init.account } : {}),
      ...(transferer.init.provider ? { provider: transferer.init.provider } : {}),
      transfer: { transferer: transferer.id, transferee: transferee.id },
    };
    const result = await this.execute(call, host, dialplan, facts);
    const last = host.lastDial();
    if (last?.answered) return last;
    if (refusedWith !== undefined) return { answered: false, result: `rejected:${refusedWith}`, sipStatus: refusedWith };
    if (result.outcome !== 'completed' && result.outcome !== 'responded') return { answered: false, result: 'rejected:500', sipStatus: 500 };
    return last ?? { answered: false, result: 'rejected:404', sipStatus: 404 };
  }

  /** Runs a dialplan for `call`, between its dialplan.started and dialplan.ended events. */
  private async execute(call: Call, host: CallHost, dialplan: SelectedDialplan, facts: CallFacts): Promise<ExecutionResult> {
    const { store, runner, bus } = this.deps;
    const tenant = await store.tenant(call.tenantId).settings.getCached();
    const executionId = newId();
    const channelId = facts.channelId;
    bus.emit({
      type: 'dialplan.started',
      tenantId: call.tenantId,
      callId: call.id,
      channelId,
      executionId,
      dialplan: { name: dialplan.name, version: dialplan.version },
      direction: facts.direction,
    });
    const result = await runner.run({ executionId, tenantId: call.tenantId, dialplan, call: facts, timeZone: tenant?.timeZone ?? 'UTC' }, host);
    bus.emit({
      type: 'dialplan.ended',
      tenantId: call.tenantId,
      callId: call.id,
      channelId,
      executionId,
      outcome: result.outcome,
      ...(result.error ? { error: result.error.message } : {}),
    });
    return result;
  }
}
