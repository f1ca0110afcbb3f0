/**
 * Resuming the calls a previous run of this node was handling (after a restart or a crash), from
 * the state persistence.ts wrote: the caller's INVITE transaction (to answer it or honour its
 * CANCEL), every dialog (to relay BYE and re-INVITE), the INVITEs still ringing (to relay their
 * answer, or CANCEL them) and the deadlines. The dialplan that was running is not resumed: a
 * ringing fork ends with what its branches answer, as the dial would have.
 */
import type { Logger } from 'pino';
import type { DialogState } from './dialog.ts';
import { SipDialog } from './dialog.ts';
import type { BridgeSnapshot, ChannelSnapshot, HangupCause } from './events.ts';
import { Call, type CallServices, type Cancellable } from './call.ts';
import { Channel, type PendingInvite } from './channel.ts';
import { Bridge } from './bridge.ts';
import { answerToCaller, failureOfResponse, mostTelling } from '../domain/outcomes.ts';
import { requestOnInvite } from '../sip/clientTransactions.ts';
import type { CSeq, NameAddr, SipRequest, SipResponse, Via } from '../sip/message.ts';
import { ServerTransaction } from '../sip/transactions.ts';
import type { Peer } from '../sip/transport.ts';

/** The form of Call.persistentState(), version 1. */
export interface PersistedCall {
  version: 1;
  callId: string;
  tenantId: string;
  caller: {
    channelId: string;
    inviteKey: string;
    toTag: string;
    head: { via: Via[]; from: NameAddr; to: NameAddr; callId: string; cseq: CSeq };
    peer: Peer;
    finalSent: boolean;
    lateOffer: boolean;
  };
  channels: Array<{ snapshot: ChannelSnapshot; dialog: DialogState; pendingInvite?: PendingInvite }>;
  bridges: BridgeSnapshot[];
  maxUntil: number | null;
  /** The CDR writer's state of the call's record (persistence.ts adds it). */
  record: unknown;
}

/** Rebuilds one call; it is live again once the caller registers it (CallService.resume). */
export function resumeCall(state: PersistedCall, services: CallServices, log: Logger): Call {
  const { caller } = state;
  const invite: SipRequest = {
    method: 'INVITE',
    uri: caller.head.to.uri,
    version: '2.0',
    headers: { via: caller.head.via, from: caller.head.from, to: { ...caller.head.to, params: {} }, 'call-id': caller.head.callId, cseq: caller.head.cseq },
    content: '',
  };
  // A caller still waiting for its final answer gets it through the same transaction as before.
  const tx = ServerTransaction.resumed(caller.inviteKey, invite, caller.peer, caller.toTag, services.stack.transactions, caller.finalSent);
  const call = new Call(state.tenantId, tx, services, log, { id: state.callId, finalSent: caller.finalSent, lateOffer: caller.lateOffer });

  const byId = new Map<string, Channel>();
  const forks: Array<{ channel: Channel; pending: PendingInvite }> = [];
  for (const c of state.channels) {
    const channel = new Channel(
      call,
      {
        direction: c.snapshot.direction,
        dialog: new SipDialog(c.dialog),
        from: c.snapshot.from,
        to: c.snapshot.to,
        ...(c.snapshot.target ? { target: c.snapshot.target } : {}),
        ...(c.snapshot.account ? { account: c.snapshot.account } : {}),
        ...(c.snapshot.provider ? { provider: c.snapshot.provider } : {}),
        peer: c.dialog.peer,
      },
      c.snapshot,
    );
    byId.set(channel.id, channel);
    if (c.snapshot.direction === 'inbound') call.attachInbound(channel);
    else {
      call.outbound.add(channel);
      if (channel.state === 'up') services.dialogs.add(channel);
      if (c.pendingInvite) forks.push({ channel, pending: c.pendingInvite });
    }
  }
  for (const b of state.bridges) {
    const channels = b.channelIds.map((id) => byId.get(id)).filter((c): c is Channel => c !== undefined && c.live);
    if (channels.length) call.bridges.add(new Bridge(call, b.transfers, { snapshot: b, channels }));
  }
  call.resumeDeadline(state.maxUntil);
  if (forks.length) new ResumedFork(call, forks);
  else if (!call.finalSent) {
    // The dialplan was deciding when the node stopped; it cannot be resumed mid-way.
    call.reject(500, 'Switch Restarted', 'switch-error');
  }
  return call;
}

/** The branches that were ringing: the first to answer is bridged, the rest are cancelled. */
class ResumedFork implements Cancellable {
  private readonly branches = new Set<ResumedBranch>();
  private readonly failures: number[] = [];
  private readonly untrack: () => void;

  constructor(
    private readonly call: Call,
    ringing: Array<{ channel: Channel; pending: PendingInvite }>,
  ) {
    this.untrack = call.trackDial(this);
    for (const r of ringing) this.branches.add(new ResumedBranch(call, r.channel, r.pending, this));
  }

  cancel(cause: HangupCause): void {
    for (const b of this.branches) b.cancel(cause);
  }

  settled(branch: ResumedBranch, failedWith?: number): void {
    this.branches.delete(branch);
    if (failedWith !== undefined) this.failures.push(failedWith);
    if (this.branches.size) return;
    this.untrack();
    if (!this.call.finalSent) {
      // The most telling failure, as the dial would have reported it: busy over the rest.
      const { status, reason, cause } = answerToCaller(mostTelling(this.failures.map((s) => failureOfResponse(s))));
      this.call.reject(status, reason, cause);
    }
    this.call.maybeEnd();
  }
}

class ResumedBranch {
  private readonly invite: SipRequest;
  private readonly ringTimer: NodeJS.Timeout;
  private cancelledAs?: HangupCause;
  private cancelSent = false;
  private done = false;
  private winning = false;

  constructor(
    private readonly call: Call,
    private readonly channel: Channel,
    private readonly pending: PendingInvite,
    private readonly fork: ResumedFork,
  ) {
    const d = channel.dialog.state;
    this.invite = {
      method: 'INVITE',
      uri: pending.requestUri,
      version: '2.0',
      headers: {
        from: { uri: d.localUri, params: { tag: d.localTag } },
        to: { uri: d.remoteUri, params: {} },
        'call-id': d.callId,
        cseq: { seq: pending.cseq, method: 'INVITE' },
        'max-forwards': '70',
      },
      content: '',
    };
    call.services.stack.clientTransactions.resume(this.invite, channel.peer, { onProvisional: (r) => this.provisional(r), onFinal: (r) => this.final(r) }, pending.branch);
    channel.pendingInvite = pending;
    this.ringTimer = setTimeout(() => this.cancel('no-answer'), Math.max(0, pending.ringUntil - Date.now())).unref();
  }

  private provisional(res: SipResponse): void {
    if (this.cancelledAs) return this.sendCancel();
    if (res.status === 100) return;
    this.channel.setState('ringing');
    this.call.relayProgress(res);
  }

  private final(res: SipResponse): void {
    clearTimeout(this.ringTimer);
    this.channel.pendingInvite = undefined;
    const seq = this.pending.cseq;
    if (res.status < 300) {
      this.channel.dialog.confirmFrom(res);
      this.winning = !this.cancelledAs && !this.done;
      if (!this.winning || !this.call.answer(this.channel, res, { transfer: this.pending.transfer })) {
        // Answered after the caller gave up or another branch won: nobody is left connected to nobody.
        this.call.sendAck(this.channel, seq);
        this.call.sendBye(this.channel, this.cancelledAs ?? 'answered-elsewhere', 'switch');
        return this.finish();
      }
      if (this.call.acksImmediately) this.call.sendAck(this.channel, seq);
      this.call.services.dialogs.add(this.channel);
      return this.finish();
    }
    if (this.cancelledAs) this.channel.hungUp(this.cancelledAs, 'switch', res.status);
    else this.channel.hungUp(failureOfResponse(res.status).cause, 'callee', res.status);
    this.finish(res.status);
  }

  private finish(failedWith?: number): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.ringTimer);
    this.fork.settled(this, failedWith);
  }

  cancel(cause: HangupCause): void {
    if (this.done || this.winning || this.cancelledAs) return;
    this.cancelledAs = cause;
    clearTimeout(this.ringTimer);
    this.channel.hungUp(cause, 'switch');
    this.sendCancel();
  }

  private sendCancel(): void {
    if (this.cancelSent) return;
    this.cancelSent = true;
    this.call.services.stack.clientTransactions.send(requestOnInvite(this.invite, 'CANCEL'), this.channel.peer, { onFinal: () => {} }, this.pending.branch);
  }
}
