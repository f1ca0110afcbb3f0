/**
 * The B2BUA's entry points into the SIP pipeline. A new INVITE goes through admission, a list of
 * named steps (admission/), then becomes a Call that routing.ts routes; requests inside a dialog go
 * to inDialog.ts; a CANCEL finds its call here. See README.md for one call's way through.
 */
import type { Logger } from 'pino';
import type { DialplanRunner } from '../dialplan/types.ts';
import type { HopLookup } from '../providers/allowedHops.ts';
import type { RequestAuthenticator } from '../sip/authenticate.ts';
import type { Step } from '../sip/pipeline.ts';
import { inviteKeyForCancel, type SipStack } from '../sip/stack.ts';
import { isDatabaseUnreachable } from '../store/errors.ts';
import type { Store } from '../store/index.ts';
import type { ProviderDirectory } from '../store/providers.ts';
import type { SipAccount } from '../store/sipAccounts.ts';
import { identifyCaller } from './admission/identifyCaller.ts';
import { identifyProvider } from './admission/identifyProvider.ts';
import { applyCallLimits, limitUncredentialedInvites } from './admission/limits.ts';
import { admit, newCallOf, type AdmissionStep, type NewCall } from './admission/newCall.ts';
import { refuseWhileDraining, stopLoops } from './admission/serving.ts';
import { Call, type CallServices } from './call.ts';
import { LocalCallBudgets, type CallBudgets, type CallerKind, type CallLimits } from './callBudgets.ts';
import { Channel } from './channel.ts';
import { DestinationResolver } from './destinations.ts';
import { SipDialog } from './dialog.ts';
import { DialogTable } from './dialogTable.ts';
import { Dialer, type RefusalCounter } from './dialer.ts';
import type { EventBus } from './events.ts';
import { InDialogRequests } from './inDialog.ts';
import { readPersistedCall, type PersistedCall } from './persistedCall.ts';
import { resumeCall } from './recovery.ts';
import { CallRouter } from './routing.ts';
import type { CallerAudioSettings } from './callerAudio.ts';
import type { MediaEngine, MediaEvent } from '../media/engine.ts';
import type { IceCandidateFilter } from './iceCandidates.ts';

export interface CallServiceOptions {
  domain: string;
  maxCallMs: number;
  /** What each kind of caller may have at once and start per minute (toll fraud, fair share). */
  limits: CallLimits;
  /** Where those limits are counted: this node's memory unless given (Redis, for a cluster). */
  budgets?: CallBudgets;
  /** Providers: dialled by `number@provider` legs and recognised on incoming INVITEs. */
  providers?: ProviderDirectory;
  /** How SIP URI legs are resolved, and the addresses they may go to. */
  hops: HopLookup;
  /** Counts what the toll-fraud limits refuse, by limit. */
  refused?: RefusalCounter;
  /** The media relay every call's SDP passes through. */
  media: MediaEngine;
  /** What a browser leg's SDP keeps of its ICE candidates (iceCandidates.ts); absent: all. */
  iceFilter?: IceCandidateFilter;
  /** Where a dialplan's audio verbs keep prompts and recordings; without it, they refuse. */
  audio?: CallerAudioSettings;
}

export class CallService {
  readonly dialogs = new DialogTable();
  private readonly dialer: Dialer;
  private readonly router: CallRouter;
  private readonly inDialogRequests: InDialogRequests;
  private readonly budgets: CallBudgets;
  /** Calls by their INVITE server transaction, so a CANCEL finds its call. */
  private readonly byInvite = new Map<string, Call>();
  private readonly byId = new Map<string, Call>();
  private draining = false;
  /**
   * What happens to a new INVITE, in order; each step answers the call (and it stops there) or
   * passes it on. The last one creates the call and routes it.
   */
  private readonly admission: AdmissionStep[];

  constructor(
    private readonly o: CallServiceOptions,
    private readonly stack: SipStack,
    private readonly store: Store,
    auth: RequestAuthenticator,
    runner: DialplanRunner,
    private readonly bus: EventBus,
    private readonly log: Logger,
  ) {
    this.budgets = o.budgets ?? new LocalCallBudgets(o.limits);
    const account = (username: string) => store.sipAccountLookup.byUsername(username);
    this.dialer = new Dialer({
      domain: o.domain,
      destinations: new DestinationResolver({ domain: o.domain, location: store.location, account, ...(o.providers ? { providers: o.providers } : {}), hops: o.hops }),
      tollPolicy: (tenantId) => store.tenant(tenantId).settings.getCached(),
      ...(o.refused ? { refused: o.refused } : {}),
    });
    this.router = new CallRouter({ domain: o.domain, store, runner, dialer: this.dialer, bus, ...(o.audio ? { audio: o.audio } : {}) });
    this.inDialogRequests = new InDialogRequests(stack, this.dialogs, (call) => ({
      dialer: this.dialer,
      dialogs: this.dialogs,
      route: (...args) => this.router.routeTransfer(...args),
      admitPlaced: (tenantId) => this.budgets.admitPlaced(tenantId),
      log: call.log,
    }));
    this.admission = [
      refuseWhileDraining(() => this.draining),
      stopLoops,
      identifyProvider({ ...(o.providers ? { directory: o.providers } : {}), accountUnlessOutage: (u) => this.accountUnlessOutage(u), account, log }),
      limitUncredentialedInvites(this.budgets, (tx) => auth.provesSource(tx.request, tx.source.address), o.refused),
      identifyCaller(auth),
      applyCallLimits(this.budgets, o.refused),
      (c) => this.connect(c),
    ];
    o.media.subscribe((e) => this.mediaEvent(e));
  }

  /**
   * What the relay noticed about a leg's audio: a phone silent while it should send (one-way
   * audio) is flagged on its channel and logged; silent for the longer time, its call is ended.
   */
  private mediaEvent(e: MediaEvent): void {
    if (e.type === 'media.dtmf') return;
    const call = this.byId.get(e.callId);
    const channel = call && [call.inbound, ...call.outbound].find((c) => c.id === e.tag && c.live);
    if (!call || !channel) return;
    const leg = `${channel.direction === 'inbound' ? 'the caller' : 'the callee'} ${channel.direction === 'inbound' ? channel.init.from.user : channel.init.to.user}`;
    switch (e.type) {
      case 'media.silent':
        channel.log.warn({ silentMs: e.silentMs }, `no audio from ${leg} (one-way audio?)`);
        call.media.silent(channel, Date.now() - e.silentMs);
        return;
      case 'media.resumed':
        channel.log.info(`audio from ${leg} again`);
        call.media.silent(channel, null);
        return;
      case 'media.timeout':
        channel.log.warn({ silentMs: e.silentMs }, `no audio from ${leg} for ${Math.round(e.silentMs / 1000)} s: ending the call`);
        call.hangupAll('media-timeout');
        return;
    }
  }

  get activeCalls(): number {
    return this.byId.size;
  }

  callById(id: string): Call | undefined {
    return this.byId.get(id);
  }

  /** Pipeline step: a new INVITE (no To tag). */
  readonly initialInvite: Step = async (tx) => {
    if (tx.request.method !== 'INVITE' || tx.request.headers.to?.params.tag) return false;
    await admit(this.admission, newCallOf(tx, this.o.domain, this.log));
    return true;
  };

  /** Pipeline step: CANCEL for an INVITE we are handling. */
  readonly cancel: Step = (tx) => {
    if (tx.request.method !== 'CANCEL') return false;
    const key = inviteKeyForCancel(tx.request);
    const call = key ? this.byInvite.get(key) : undefined;
    if (!call) {
      tx.respond(481);
      return true;
    }
    tx.respond(200, 'OK');
    call.callerCancelled();
    return true;
  };

  /** A connection closed: the calls whose legs lived on it (WebSocket legs) end. */
  connectionClosed(flow: string): void {
    for (const channel of this.dialogs.onFlow(flow)) this.byId.get(channel.call.id)?.connectionLost(channel);
  }

  /** Pipeline step: a request inside a dialog (it has a To tag). */
  get inDialog(): Step {
    return this.inDialogRequests.step;
  }

  /**
   * Takes over the calls a previous run of this node persisted (before SIP traffic starts), so
   * their CANCELs, answers, BYEs and re-INVITEs find them. Returns the ids of those that could
   * not be resumed (their state is of no further use).
   */
  async resume(persisted: Array<{ callId: string; state: unknown }>): Promise<string[]> {
    const unusable: string[] = [];
    for (const row of persisted) {
      const state = readPersistedCall(row.state);
      if (typeof state === 'string') {
        this.log.warn({ callId: row.callId, problem: state }, 'persisted call state in an unknown form: not resumed');
        unusable.push(row.callId);
        continue;
      }
      try {
        const { call, end } = resumeCall(state, this.callServices(), this.dialer, this.log.child({ tenantId: state.tenantId, resumed: true }));
        this.track(call);
        if (state.media) await this.resumeMedia(call, state.media);
        if (end) call.hangupAll(end);
        call.maybeEnd();
      } catch (err) {
        this.log.error({ err, callId: row.callId, tenantId: state.tenantId }, 'could not resume a persisted call');
        unusable.push(row.callId);
      }
    }
    return unusable;
  }

  /** A resumed call's audio: the engine takes it over, or (its ports taken meanwhile) the call goes on without. */
  private async resumeMedia(call: Call, media: NonNullable<PersistedCall['media']>): Promise<void> {
    try {
      await call.media.restore(media, [call.inbound, ...call.outbound]);
    } catch (err) {
      call.log.warn({ err: (err as Error).message, channelId: call.inbound.id }, 'the audio of a resumed call could not be taken over: its phones may not hear each other');
    }
  }

  /**
   * A dead node's calls, claimed by this one (server/cluster.ts): resumed here only to be ended
   * cleanly — BYE to the answered legs, CANCEL to the ringing ones, an error to a caller still
   * waiting — so their records close. Returns the ids that could not be resumed.
   */
  async endCallsOf(persisted: Array<{ callId: string; state: unknown }>): Promise<string[]> {
    const unusable = await this.resume(persisted);
    for (const row of persisted) this.byId.get(row.callId)?.hangupAll('switch-error');
    return unusable;
  }

  /**
   * Shutting down: new calls are turned away (refuseWhileDraining); resolves when no call is still
   * being set up, or at the deadline. Established calls are persisted and carry on after the restart.
   */
  async drain(deadline: number): Promise<void> {
    this.draining = true;
    while (Date.now() < deadline && [...this.byId.values()].some((c) => !c.finalSent)) await new Promise((r) => setTimeout(r, 50));
  }

  /** The last admission step: the call exists from here on, with its inbound channel, and is routed. */
  private async connect(c: NewCall): Promise<boolean> {
    const { tx } = c;
    const call = new Call(c.tenantId!, tx, this.callServices(), c.log);
    call.attachInbound(
      new Channel(call, {
        direction: 'inbound',
        dialog: SipDialog.asUas(tx.request, tx.toTag, tx.responsePeer),
        from: c.from,
        to: c.to,
        ...(c.caller ? { account: c.caller.username } : {}),
        ...(c.provider ? { provider: c.provider.name } : {}),
        peer: tx.responsePeer,
      }),
    );
    this.track(call);
    await this.router.route(call, { ...c, origin: c.origin! });
    return true;
  }

  /**
   * The account a caller's From names. While the database is unreachable, a name this node has not
   * seen lately cannot be looked up: the caller is taken for a stranger (who may still call our
   * accounts) rather than failing every such call.
   */
  private async accountUnlessOutage(username: string): Promise<SipAccount | null> {
    try {
      return await this.store.sipAccountLookup.byUsername(username);
    } catch (err) {
      if (!isDatabaseUnreachable(err)) throw err;
      return null;
    }
  }

  private callServices(): CallServices {
    return {
      stack: this.stack,
      dialogs: this.dialogs,
      bus: this.bus,
      maxCallMs: this.o.maxCallMs,
      media: this.o.media,
      ...(this.o.iceFilter ? { iceFilter: this.o.iceFilter } : {}),
      onEnded: (c: Call) => this.ended(c),
    };
  }

  /** A call this node handles: findable by its INVITE and its id, counted in its budget. */
  private track(call: Call): void {
    this.byInvite.set(call.inviteTx.key, call);
    this.byId.set(call.id, call);
    this.budgets.hold(...budgetOf(call));
  }

  private ended(call: Call): void {
    this.byInvite.delete(call.inviteTx.key);
    this.byId.delete(call.id);
    this.budgets.release(...budgetOf(call));
  }
}

/**
 * Which budget a call is counted in, from its inbound channel (so a call resumed after a restart
 * is counted as it was): a phone of the tenant, a provider, or a stranger from an address.
 */
function budgetOf(call: Call): [CallerKind, string, string] {
  const { init, peer } = call.inbound;
  return [init.account !== undefined ? 'phone' : init.provider !== undefined ? 'provider' : 'stranger', call.tenantId, peer.address];
}
