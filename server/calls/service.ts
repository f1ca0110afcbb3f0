/**
 * The B2BUA's entry points into the SIP pipeline: a new INVITE becomes a Call (identify the caller,
 * pick the dialplan, check limits, run it); requests inside a dialog go to the channel they belong
 * to; CANCEL and ACK find their call.
 */
import type { Logger } from 'pino';
import { selectDialplan, type CallOrigin } from '../dialplan/selection.ts';
import { refusalReason } from '../dialplan/refusal.ts';
import type { CallFacts, DialplanRunner, DialResult } from '../dialplan/types.ts';
import type { RequestAuthenticator } from '../sip/authenticate.ts';
import { headerText, parseUri, type SipRequest } from '../sip/message.ts';
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
import { callHost } from './host.ts';
import { transferByRefer } from './transfer.ts';
import { resumeCall, type PersistedCall } from './recovery.ts';
import { providerByLine, providerBySource } from '../providers/incoming.ts';
import type { ProviderDestinationDeps } from '../providers/outbound.ts';
import type { DestinationPolicy } from '../sip/destinationPolicy.ts';
import type { Provider } from '../store/providers.ts';
import { isDatabaseUnreachable } from '../store/errors.ts';
import { KeyedRateLimiter } from '../sip/keyedRateLimiter.ts';

export interface CallServiceOptions {
  domain: string;
  maxCallMs: number;
  /** Calls a tenant's phones may have at once, and calls it may receive at once (toll-fraud guard). */
  tenantCallLimit: number;
  /** Calls a tenant's phones may place per minute, a minute's worth at once (toll-fraud guard). */
  tenantCallsPerMinute: number;
  /** Providers: dialled by `number@provider` legs and recognised on incoming INVITEs. */
  providers?: ProviderDestinationDeps;
  /** Where dialplans' SIP URI legs may go. */
  policy?: DestinationPolicy;
  /** Counts what the toll-fraud limits refuse, by limit. */
  refused?: RefusalCounter;
}

/** SIP status for a call the dialplan left unanswered, from its last dial. */
function statusAfter(last: DialResult | undefined): [number, string] {
  if (!last) return [404, 'Not Found'];
  if (last.result === 'busy') return [486, 'Busy Here'];
  if (last.result === 'no-answer') return [480, 'No Answer'];
  if (last.result.startsWith('rejected:')) {
    const status = Number(last.result.slice(9));
    // A challenge is for the hop that got it (a provider refusing our credentials): passed on,
    // it would ask the caller for credentials it has no use for. RFC 3398 maps both to 403.
    if (status === 401 || status === 407) return [403, 'Forbidden'];
    return [status, 'Rejected'];
  }
  return [480, 'Temporarily Unavailable'];
}

function partyOf(addr: { uri: string; name?: string } | undefined, fallbackHost: string): Party {
  const uri = parseUri(addr?.uri ?? '');
  const display = addr?.name?.replace(/^"|"$/g, '');
  return {
    user: uri?.user ? decodeURIComponent(uri.user) : '',
    host: uri?.host ?? fallbackHost,
    ...(display ? { display } : {}),
    uri: addr?.uri ?? '',
  };
}

export class CallService {
  readonly dialogs = new DialogTable();
  private readonly dialer: Dialer;
  /** Calls by their INVITE server transaction, so a CANCEL finds its call. */
  private readonly byInvite = new Map<string, Call>();
  /**
   * Calls in progress per tenant, counted apart for calls its phones place and calls it receives:
   * strangers ringing an account must not use up what the tenant's own phones may place.
   */
  private readonly active = new Map<string, number>();
  private readonly byId = new Map<string, Call>();
  private readonly callRate: KeyedRateLimiter;

  constructor(
    private readonly o: CallServiceOptions,
    private readonly stack: SipStack,
    private readonly store: Store,
    private readonly auth: RequestAuthenticator,
    private readonly runner: DialplanRunner,
    private readonly bus: EventBus,
    private readonly log: Logger,
  ) {
    this.callRate = new KeyedRateLimiter({ burst: o.tenantCallsPerMinute, perSecond: o.tenantCallsPerMinute / 60 });
    this.dialer = new Dialer({
      domain: o.domain,
      location: store.location,
      account: (u) => this.store.sipAccountLookup.byUsername(u),
      tollPolicy: (tenantId) => this.store.tenant(tenantId).settings.getCached(),
      ...(o.refused ? { refused: o.refused } : {}),
      ...(o.providers ? { providers: o.providers } : {}),
      ...(o.policy ? { policy: o.policy } : {}),
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
      const state = row.state as PersistedCall;
      if (state?.version !== 1) {
        this.log.warn({ callId: row.callId }, 'persisted call state in an unknown form: not resumed');
        unusable.push(row.callId);
        continue;
      }
      try {
        const call = resumeCall(state, this.callServices(), this.log.child({ tenantId: state.tenantId, resumed: true }));
        this.byInvite.set(state.caller.inviteKey, call);
        this.byId.set(call.id, call);
        this.count(call);
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
        void transferByRefer(call, channel, tx, { dialer: this.dialer, dialogs: this.dialogs, account: this.accountOf(call.tenantId), log: call.log }).catch((err: unknown) => {
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

  /** ACK outside any transaction of ours: the caller's ACK for our 2xx. */
  onAck(req: SipRequest): void {
    const channel = this.dialogs.match(req);
    if (!channel) return;
    (channel.call as Call).ackFrom(channel, req);
  }

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
          call.awaitReinviteAck(from, req.headers.cseq!.seq, tx, (ack) => {
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
    let calledUser = ruri?.user ? decodeURIComponent(ruri.user) : '';

    // A provider's call names its entry by the line token of the Contact we register there.
    const directory = this.o.providers?.directory;
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
      if (directory) provider = await providerBySource(directory, ruri, tx.source, addressed?.tenantId);
    }

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
    const placed = origin.kind === 'account';
    if ((this.active.get(activeKey(tenantId, placed)) ?? 0) >= this.o.tenantCallLimit) {
      log.warn({ limit: this.o.tenantCallLimit, placed }, 'tenant call limit reached: call refused');
      this.o.refused?.inc({ limit: 'calls-at-once' });
      tx.respond(503, 'Too Many Calls', { 'retry-after': '30' });
      return;
    }
    // Placed by the tenant's own phones: what a stolen phone password is spent on. Calls the tenant
    // receives do not count, or anyone could use up its minute by calling one of its accounts.
    if (placed && !this.callRate.take(tenantId)) {
      const retryAfter = Math.ceil(this.callRate.retryAfterMs(tenantId) / 1000);
      log.warn({ perMinute: this.o.tenantCallsPerMinute }, 'tenant calls-per-minute limit reached: call refused');
      this.o.refused?.inc({ limit: 'calls-per-minute' });
      tx.respond(503, 'Call Rate Exceeded', { 'retry-after': String(retryAfter) });
      return;
    }

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
    this.count(call);

    const callerParty: Party = { ...from, host: this.o.domain, uri: `sip:${from.user || 'anonymous'}@${this.o.domain}` };
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
      const [status, reason] = statusAfter(host.lastDial());
      call.reject(status, reason, status === 486 ? 'busy' : status === 480 ? 'no-answer' : 'rejected');
    }
    untrack();
    call.maybeEnd();
  }

  /** No dialplan: a call to an account rings its phones; a phone calling a colleague rings theirs. */
  private async defaultRouting(call: Call, host: ReturnType<typeof callHost>, origin: CallOrigin, calledUser: string, account: (u: string) => Promise<SipAccount | null>) {
    const target = origin.kind === 'to-account' ? origin.callee : await account(calledUser);
    if (!target) return;
    const controller = new AbortController();
    await host.dial({ groups: [[{ kind: 'account', account: target.username, target: target.username, options: { timeout: 30, delay: 0 } }]] }, controller.signal);
  }

  private async runDialplan(
    call: Call,
    host: ReturnType<typeof callHost>,
    dialplan: { name: string; version: number; source: string },
    c: { caller?: SipAccount; callee: SipAccount | null; provider?: Provider; from: Party; to: Party; calledUser: string; source: Peer; tx: ServerTransaction },
  ): Promise<void> {
    const inbound = call.inbound;
    const tenant = await this.store.tenant(call.tenantId).settings.getCached();
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
    const executionId = newId();
    this.bus.emit({ type: 'dialplan.started', tenantId: call.tenantId, callId: call.id, channelId: inbound.id, executionId, dialplan: { name: dialplan.name, version: dialplan.version } });
    const result = await this.runner.run({ executionId, tenantId: call.tenantId, dialplan, call: facts, timeZone: tenant?.timeZone ?? 'UTC' }, host);
    this.bus.emit({
      type: 'dialplan.ended',
      tenantId: call.tenantId,
      callId: call.id,
      channelId: inbound.id,
      executionId,
      outcome: result.outcome,
      ...(result.error ? { error: result.error.message } : {}),
    });
    if (call.finalSent) return;
    if (result.outcome === 'rejected') call.reject(503, refusalReason(result.refusal), 'dialplan-error');
    else if (result.outcome !== 'completed' && result.outcome !== 'responded') {
      call.log.warn({ channelId: inbound.id, outcome: result.outcome, error: result.error?.message }, 'dialplan failed');
      call.reject(500, 'Dialplan Failed', 'dialplan-error');
    }
  }

  private ended(call: Call): void {
    this.byInvite.delete(call.inviteTx.key);
    this.byId.delete(call.id);
    const key = activeKeyOf(call);
    const n = (this.active.get(key) ?? 1) - 1;
    if (n > 0) this.active.set(key, n);
    else this.active.delete(key);
  }

  private count(call: Call): void {
    const key = activeKeyOf(call);
    this.active.set(key, (this.active.get(key) ?? 0) + 1);
  }
}

/** Which count a call is in: placed by the tenant's phones, or received. */
const activeKey = (tenantId: string, placed: boolean) => `${tenantId} ${placed ? 'placed' : 'received'}`;
/** A call its tenant's phone placed has that account on its inbound channel (new or resumed). */
const activeKeyOf = (call: Call) => activeKey(call.tenantId, call.inbound.init.account !== undefined);

const EXPOSED_HEADERS = ['user-agent', 'p-asserted-identity', 'diversion', 'referred-by', 'subject', 'priority'];

function selectedHeaders(req: SipRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of EXPOSED_HEADERS) {
    const v = headerText(req, h);
    if (v) out[h] = v.slice(0, 512);
  }
  return out;
}
