/**
 * The B2BUA's entry points into the SIP pipeline: a new INVITE becomes a Call (identify the caller,
 * pick the dialplan, check limits, run it); requests inside a dialog go to the channel they belong
 * to; CANCEL and ACK find their call.
 */
import type { Logger } from 'pino';
import { selectDialplan, type CallOrigin } from '../dialplan/selection.ts';
import { refusalReason } from '../dialplan/refusal.ts';
import type { CallFacts, DialplanRunner, DialResult, DialSpec, ExecutionResult } from '../dialplan/types.ts';
import type { RequestAuthenticator } from '../sip/authenticate.ts';
import { headerText, parseUri, type SipRequest, type SipUri } from '../sip/message.ts';
import type { Step } from '../sip/pipeline.ts';
import { inviteKeyForCancel, type SipStack } from '../sip/stack.ts';
import type { ServerTransaction } from '../sip/transactions.ts';
import type { Peer } from '../sip/transport.ts';
import type { Store } from '../store/index.ts';
import { newId } from '../store/ids.ts';
import type { SipAccount } from '../store/sipAccounts.ts';
import { Call } from './call.ts';
import { Channel } from './channel.ts';
import { bodyOf, SipDialog } from './dialog.ts';
import { DialogTable } from './dialogTable.ts';
import { Dialer, type RefusalCounter } from './dialer.ts';
import type { EventBus, Party } from './events.ts';
import { callHost, type CallHost } from './host.ts';
import type { LegPurpose } from './outboundLeg.ts';
import { transferByRefer } from './transfer.ts';
import { resumeCall } from './recovery.ts';
import { readPersistedCall } from './persistedCall.ts';
import { DestinationResolver } from './destinations.ts';
import { providerByLine, providerBySource } from '../providers/incoming.ts';
import type { HopLookup } from '../providers/allowedHops.ts';
import { decodeUser, displayName, sipUri } from '../sip/wireValues.ts';
import type { Provider, ProviderDirectory } from '../store/providers.ts';
import { isDatabaseUnreachable } from '../store/errors.ts';
import { CallBudgets, type CallerKind, type CallLimits, type Refusal } from './callBudgets.ts';
import { answerToCaller } from '../domain/outcomes.ts';

export interface CallServiceOptions {
  domain: string;
  maxCallMs: number;
  /** What each kind of caller may have at once and start per minute (toll fraud, fair share). */
  limits: CallLimits;
  /** Providers: dialled by `number@provider` legs and recognised on incoming INVITEs. */
  providers?: ProviderDirectory;
  /** How SIP URI legs are resolved, and the addresses they may go to. */
  hops: HopLookup;
  /** Counts what the toll-fraud limits refuse, by limit. */
  refused?: RefusalCounter;
}

/**
 * A party as the peer named it in From or To: the user part decoded (the dialplan reads it as
 * text), the display name reduced to what can be quoted, and a URI rebuilt from those parts so
 * nothing of the peer's own text (an escaped CR LF, a NUL) is copied into our requests.
 */
function partyOf(addr: { uri: string; name?: string } | undefined, fallbackHost: string): Party {
  const uri = parseUri(addr?.uri ?? '');
  const user = uri?.user ? decodeUser(uri.user) : '';
  const host = uri?.host ?? fallbackHost;
  const display = displayName(addr?.name);
  return { user, host, ...(display ? { display } : {}), uri: sipUri(user, host) };
}

export class CallService {
  readonly dialogs = new DialogTable();
  private readonly dialer: Dialer;
  /** Calls by their INVITE server transaction, so a CANCEL finds its call. */
  private readonly byInvite = new Map<string, Call>();
  private readonly byId = new Map<string, Call>();
  private readonly budgets: CallBudgets;

  constructor(
    private readonly o: CallServiceOptions,
    private readonly stack: SipStack,
    private readonly store: Store,
    private readonly auth: RequestAuthenticator,
    private readonly runner: DialplanRunner,
    private readonly bus: EventBus,
    private readonly log: Logger,
  ) {
    this.budgets = new CallBudgets(o.limits);
    this.dialer = new Dialer({
      domain: o.domain,
      destinations: new DestinationResolver({
        domain: o.domain,
        location: store.location,
        account: (u) => this.store.sipAccountLookup.byUsername(u),
        ...(o.providers ? { providers: o.providers } : {}),
        hops: o.hops,
      }),
      tollPolicy: (tenantId) => this.store.tenant(tenantId).settings.getCached(),
      ...(o.refused ? { refused: o.refused } : {}),
    });
  }

  get activeCalls(): number {
    return this.byId.size;
  }

  callById(id: string): Call | undefined {
    return this.byId.get(id);
  }

  private accountOf(tenantId: string) {
    return async (username: string): Promise<SipAccount | null> => {
      const a = await this.store.sipAccountLookup.byUsername(username);
      return a && a.tenantId === tenantId ? a : null;
    };
  }

  /**
   * Takes over the calls a previous run of this node persisted (before SIP traffic starts), so
   * their CANCELs, answers, BYEs and re-INVITEs find them. Returns the ids of those that could
   * not be resumed (their state is of no further use).
   */
  resume(persisted: Array<{ callId: string; state: unknown }>): string[] {
    const unusable: string[] = [];
    for (const row of persisted) {
      const state = readPersistedCall(row.state);
      if (typeof state === 'string') {
        this.log.warn({ callId: row.callId, problem: state }, 'persisted call state in an unknown form: not resumed');
        unusable.push(row.callId);
        continue;
      }
      try {
        const call = resumeCall(state, this.callServices(), this.dialer, this.log.child({ tenantId: state.tenantId, resumed: true }));
        this.byInvite.set(state.caller.inviteKey, call);
        this.byId.set(call.id, call);
        this.hold(call);
        call.maybeEnd();
      } catch (err) {
        this.log.error({ err, callId: row.callId, tenantId: state.tenantId }, 'could not resume a persisted call');
        unusable.push(row.callId);
      }
    }
    return unusable;
  }

  private callServices() {
    return { stack: this.stack, dialogs: this.dialogs, bus: this.bus, maxCallMs: this.o.maxCallMs, onEnded: (c: Call) => this.ended(c) };
  }

  /** Pipeline step: a new INVITE (no To tag). */
  readonly initialInvite: Step = async (tx) => {
    const req = tx.request;
    if (req.method !== 'INVITE' || req.headers.to?.params.tag) return false;
    await this.startCall(tx);
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

  /** Pipeline step: a request inside a dialog (it has a To tag). */
  readonly inDialog: Step = async (tx) => {
    const req = tx.request;
    if (!req.headers.to?.params.tag || req.method === 'CANCEL') return false;
    const channel = this.dialogs.match(req);
    if (!channel) {
      tx.respond(481);
      return true;
    }
    const call = channel.call as Call;
    channel.dialog.state.remoteSeq = Math.max(channel.dialog.state.remoteSeq, req.headers.cseq!.seq);
    switch (req.method) {
      case 'BYE':
        call.byeFrom(channel, tx);
        break;
      case 'OPTIONS':
        tx.respond(200, 'OK');
        break;
      case 'REFER':
        void transferByRefer(call, channel, tx, {
          dialer: this.dialer,
          dialogs: this.dialogs,
          route: (...args) => this.routeTransfer(...args),
          admitPlaced: (tenantId) => this.budgets.admitPlaced(tenantId),
          log: call.log,
        }).catch((err: unknown) => {
          call.log.error({ err, channelId: channel.id }, 'transfer failed');
          if (!tx.answered) tx.respond(500);
        });
        break;
      default:
        // The request is answered when the other side answers: the step ends only then.
        await this.relay(call, channel, tx);
    }
    return true;
  };

  /** Passes a mid-call request (re-INVITE, UPDATE, INFO, …) to the other side and its answer back. */
  private relay(call: Call, from: Channel, tx: ServerTransaction): Promise<void> {
    const to = call.bridgeOf(from)?.peersOf(from)[0];
    if (!to) {
      tx.respond(481);
      return Promise.resolve();
    }
    const req = tx.request;
    if (req.method === 'INVITE') tx.respond(100, 'Trying');
    let answered!: () => void;
    const done = new Promise<void>((r) => (answered = r));
    const extra: Record<string, unknown> = {};
    for (const h of ['event', 'subscription-state', 'info-package', 'session-expires', 'min-se', 'supported', 'require']) {
      const v = headerText(req, h);
      if (v) extra[h] = v;
    }
    const out = to.dialog.request(req.method, this.stack.contact(to.peer.transport), extra, bodyOf(req));
    const seq = out.headers.cseq!.seq;
    this.stack.clientTransactions.send(out, to.peer, {
      onProvisional: (res) => {
        if (res.status > 100) tx.respond(res.status, res.reason);
      },
      onFinal: (res) => {
        const accepted = req.method === 'INVITE' && res.status < 300;
        const headers: Record<string, unknown> = {};
        if (accepted) {
          to.dialog.confirmFrom(res);
          headers.contact = [{ uri: this.stack.contact(from.peer.transport).replace(/^<|>$/g, ''), params: {} }];
        }
        const st = headerText(res, 'session-expires');
        if (st) headers['session-expires'] = st;
        tx.respond(res.status, res.reason, headers, bodyOf(res));
        if (accepted) {
          // An offerless re-INVITE: the 2xx carries the other side's offer and the originator's
          // ACK the answer, which our ACK must carry on. Otherwise ACK at once.
          const lateOffer = !bodyOf(req) && Boolean(bodyOf(res));
          if (!lateOffer) call.sendAck(to, seq);
          call.awaitAck(tx, (ack) => {
            if (lateOffer) call.sendAck(to, seq, ack ? bodyOf(ack) : undefined);
          });
        }
        answered();
      },
    });
    return done;
  }

  private draining = false;

  /**
   * Shutting down: new calls are turned away with 503 and Retry-After (a phone or provider tries
   * another node, or this one once it is back); resolves when no call is still being set up, or
   * at the deadline. Established calls are persisted and carry on after the restart.
   */
  async drain(deadline: number): Promise<void> {
    this.draining = true;
    while (Date.now() < deadline && [...this.byId.values()].some((c) => !c.finalSent)) await new Promise((r) => setTimeout(r, 50));
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

  private async startCall(tx: ServerTransaction): Promise<void> {
    const req = tx.request;
    if (this.draining) {
      tx.respond(503, 'Shutting Down', { 'retry-after': '5' });
      return;
    }
    // Every hop through the switch lowers Max-Forwards (branch.ts): a dialplan that dials the
    // switch itself ends here instead of looping (RFC 3261 §16.3).
    if (Number(req.headers['max-forwards'] ?? 70) <= 0) {
      tx.respond(483, 'Too Many Hops');
      return;
    }
    const from = partyOf(req.headers.from, this.o.domain);
    const ruri = parseUri(req.uri);
    let calledUser = ruri?.user ? decodeUser(ruri.user) : '';

    // A provider's call names its entry by the line token of the Contact we register there.
    const directory = this.o.providers;
    const byLine = directory ? await providerByLine(directory, ruri) : { kind: 'none' as const };
    if (byLine.kind === 'unknown-line') {
      tx.respond(404, 'Unknown Line');
      return;
    }
    let provider: Provider | undefined = byLine.kind === 'provider' ? byLine.provider : undefined;
    const fromAccount = !provider && from.user ? await this.accountUnlessOutage(from.user) : null;
    const claimsAccount = Boolean(fromAccount || req.headers['proxy-authorization']);
    // Or it comes from an address the entry lists. A phone of ours is still a phone there (an
    // office's phones and its gateway often share one public address), and a call to an account
    // belongs to that account's tenant whatever another tenant's entry lists.
    let addressed: SipAccount | null = null;
    if (!provider && !claimsAccount) {
      addressed = calledUser ? await this.store.sipAccountLookup.byUsername(calledUser) : null;
      if (directory) {
        const match = await providerBySource(directory, ruri, tx.source, { accountTenant: addressed?.tenantId, toUser: partyOf(req.headers.to, this.o.domain).user });
        if (match.kind === 'ambiguous') {
          // Two tenants could each claim the call: whichever got it, the other would be robbed.
          this.log.warn({ tenants: match.tenants, source: tx.source, requestUri: req.uri, sipCallId: req.headers['call-id'] }, 'incoming call matches more than one tenant: refused');
          tx.respond(403, 'Ambiguous Destination');
          return;
        }
        if (match.kind === 'provider') provider = match.provider;
      }
    }

    // Strangers are limited per source address before anything else is done for them; a phone's
    // first INVITE (before its challenge) counts too, a provider's calls do not.
    if (!provider && !req.headers['proxy-authorization'] && this.refuse(tx, this.budgets.admitUncredentialedInvite(tx.source.address), this.log)) return;

    // A caller claiming to be one of our accounts must prove it; a stranger may still call an
    // account (like e-mail), which runs that account's receiving dialplan.
    let origin: CallOrigin;
    let caller: SipAccount | undefined;
    let callee: SipAccount | null = null;
    if (provider) {
      origin = { kind: 'provider', dialplan: provider.dialplan };
      // The Request-URI carries our registered Contact; the number called is in To.
      calledUser = partyOf(req.headers.to, this.o.domain).user || calledUser;
    } else if (claimsAccount) {
      const authed = await this.auth.asProxy(tx, from.user);
      if (!authed) return;
      caller = authed.account;
      origin = { kind: 'account', account: caller };
    } else {
      callee = addressed;
      if (!callee || !callee.enabled) {
        const authed = await this.auth.asProxy(tx, from.user || 'anonymous');
        if (!authed) return;
        caller = authed.account;
        origin = { kind: 'account', account: caller };
      } else origin = { kind: 'to-account', callee };
    }
    const tenantId = provider?.tenantId ?? caller?.tenantId ?? callee!.tenantId;
    const log = this.log.child({ tenantId, sipCallId: req.headers['call-id'] });

    tx.respond(100, 'Trying');
    const kind: CallerKind = caller ? 'phone' : provider ? 'provider' : 'stranger';
    if (this.refuse(tx, this.budgets.admit(kind, tenantId, tx.source.address), log)) return;

    const scope = this.store.tenant(tenantId);
    const call = new Call(tenantId, tx, this.callServices(), log);
    this.byInvite.set(tx.key, call);
    this.byId.set(call.id, call);
    const to = partyOf(req.headers.to, this.o.domain);
    const inbound = new Channel(call, {
      direction: 'inbound',
      dialog: SipDialog.asUas(req, tx.toTag, tx.responsePeer),
      from,
      to,
      ...(caller ? { account: caller.username } : {}),
      ...(provider ? { provider: provider.name } : {}),
      peer: tx.responsePeer,
    });
    call.attachInbound(inbound);
    this.hold(call);

    const callerParty: Party = { ...from, host: this.o.domain, uri: sipUri(from.user || 'anonymous', this.o.domain) };
    const account = this.accountOf(tenantId);
    const host = callHost({ call, scope, location: this.store.location, dialer: this.dialer, caller: callerParty, channelId: inbound.id, account });
    // The call lasts at least as long as its dialplan runs: its events belong to this call.
    const untrack = call.trackDial({ cancel: () => {} });
    try {
      const dialplan = await selectDialplan(scope, origin);
      if (!dialplan) {
        await this.defaultRouting(call, host, origin, calledUser, account);
      } else {
        await this.runDialplan(call, host, dialplan, { caller, callee, provider, from, to, calledUser, source: tx.source, tx });
      }
    } catch (err) {
      log.error({ err, channelId: inbound.id }, 'call handling failed');
      call.reject(500, 'Server Internal Error', 'switch-error');
    }
    if (!call.finalSent) {
      const { status, reason, cause } = answerToCaller(host.lastDial());
      call.reject(status, reason, cause);
    }
    untrack();
    call.maybeEnd();
  }

  /** No dialplan: a call to an account rings its phones; a phone calling a colleague rings theirs. */
  private async defaultRouting(call: Call, host: ReturnType<typeof callHost>, origin: CallOrigin, calledUser: string, account: (u: string) => Promise<SipAccount | null>) {
    const target = origin.kind === 'to-account' ? origin.callee : await account(calledUser);
    if (!target) return;
    const controller = new AbortController();
    await host.dial(ringAccount(target), controller.signal);
  }

  /**
   * Where a transfer goes, decided as a call the tenant places: by the transferer's own dialplan if
   * it is one of the tenant's phones, else by the tenant's `default`, run with `call.transfer` set
   * (its dials ring for the transferee, its `respond` refuses the transfer); with no dialplan, only
   * the tenant's accounts can be reached, as for its phones' calls.
   */
  private async routeTransfer(call: Call, transferer: Channel, transferee: Channel, target: { uri: string; parsed: SipUri }, purpose: LegPurpose): Promise<DialResult> {
    const scope = this.store.tenant(call.tenantId);
    const accountOf = this.accountOf(call.tenantId);
    const user = target.parsed.user ? decodeUser(target.parsed.user) : '';
    const party = transferee.direction === 'inbound' ? transferee.init.from : transferee.init.to;
    let refusedWith: number | undefined;
    const host = callHost({
      call,
      scope,
      location: this.store.location,
      dialer: this.dialer,
      caller: { ...party, host: this.o.domain, uri: sipUri(party.user || 'anonymous', this.o.domain) },
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
  private async execute(call: Call, host: CallHost, dialplan: { name: string; version: number; source: string }, facts: CallFacts): Promise<ExecutionResult> {
    const tenant = await this.store.tenant(call.tenantId).settings.getCached();
    const executionId = newId();
    const channelId = facts.channelId;
    this.bus.emit({ type: 'dialplan.started', tenantId: call.tenantId, callId: call.id, channelId, executionId, dialplan: { name: dialplan.name, version: dialplan.version } });
    const result = await this.runner.run({ executionId, tenantId: call.tenantId, dialplan, call: facts, timeZone: tenant?.timeZone ?? 'UTC' }, host);
    this.bus.emit({
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

  private async runDialplan(
    call: Call,
    host: ReturnType<typeof callHost>,
    dialplan: { name: string; version: number; source: string },
    c: { caller?: SipAccount; callee: SipAccount | null; provider?: Provider; from: Party; to: Party; calledUser: string; source: Peer; tx: ServerTransaction },
  ): Promise<void> {
    const inbound = call.inbound;
    const target = c.caller ? await this.accountOf(call.tenantId)(c.calledUser) : null;
    const facts: CallFacts = {
      id: call.id,
      channelId: inbound.id,
      direction: c.caller ? (target ? 'local' : 'out') : 'in',
      from: c.from,
      to: { user: c.calledUser || c.to.user, host: c.to.host, uri: c.to.uri },
      requestUri: c.tx.request.uri,
      headers: selectedHeaders(c.tx.request),
      source: { address: c.source.address, port: c.source.port, transport: c.source.transport },
      ...(c.caller ? { account: c.caller.username } : {}),
      ...(c.provider ? { provider: c.provider.name } : {}),
    };
    const result = await this.execute(call, host, dialplan, facts);
    if (call.finalSent) return;
    if (result.outcome === 'rejected') call.reject(503, refusalReason(result.refusal), 'dialplan-error');
    else if (result.outcome !== 'completed' && result.outcome !== 'responded') {
      call.log.warn({ channelId: inbound.id, outcome: result.outcome, error: result.error?.message }, 'dialplan failed');
      call.reject(500, 'Dialplan Failed', 'dialplan-error');
    }
  }

  /** Answers a refused call 503 with Retry-After, counted and logged; false when there is no refusal. */
  private refuse(tx: ServerTransaction, refusal: Refusal | undefined, log: Logger): boolean {
    if (!refusal) return false;
    log.warn({ limit: refusal.limit, source: tx.source.address }, `call refused: ${refusal.message}`);
    this.o.refused?.inc({ limit: refusal.limit });
    tx.respond(503, refusal.reason, { 'retry-after': String(refusal.retryAfterSeconds) });
    return true;
  }

  private ended(call: Call): void {
    this.byInvite.delete(call.inviteTx.key);
    this.byId.delete(call.id);
    this.budgets.release(...budgetOf(call));
  }

  private hold(call: Call): void {
    this.budgets.hold(...budgetOf(call));
  }
}

/** A leg ringing every phone of `account` (routing without a dialplan); the tenant's phones may transfer the call. */
function ringAccount(account: SipAccount): DialSpec {
  return { groups: [[{ kind: 'account', account: account.username, target: account.username, options: { timeout: 30, delay: 0, transfer: 'phones' } }]] };
}

/**
 * Which budget a call is counted in, from its inbound channel (so a call resumed after a restart
 * is counted as it was): a phone of the tenant, a provider, or a stranger from an address.
 */
function budgetOf(call: Call): [CallerKind, string, string] {
  const { init, peer } = call.inbound;
  return [init.account !== undefined ? 'phone' : init.provider !== undefined ? 'provider' : 'stranger', call.tenantId, peer.address];
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
