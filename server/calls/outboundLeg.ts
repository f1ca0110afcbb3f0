/**
 * One outbound leg: an INVITE to one destination (a registered phone, a provider, a SIP URI), with
 * its own channel, ring timeout, failover, challenge and cancellation; reports exactly one outcome.
 * The same type serves a leg placed now (`place`) and one a previous run of this node placed and
 * that was still ringing when it stopped (`resume`: its INVITE is not sent again, its transaction
 * waits for the final answer under the old branch).
 */
import type { SipRequest, SipResponse } from '../sip/message.ts';
import { newBranch, requestOnInvite, type ClientTransaction, type ClientTransactionHandlers } from '../sip/clientTransactions.ts';
import type { Peer } from '../sip/transport.ts';
import type { Call } from './call.ts';
import { Channel, type PendingInvite } from './channel.ts';
import type { Destination } from './destinations.ts';
import { bodyOf, newCallId, newLocalTag, SipDialog } from './dialog.ts';
import type { DialOutcome, LegOptions } from '../dialplan/types.ts';
import type { HangupCause, Party } from './events.ts';
import { answerChallenge, readChallenge, type DigestCredentials } from '../sip/digestClient.ts';
import { quotedDisplay } from '../sip/wireValues.ts';
import { failureOfResponse } from '../domain/outcomes.ts';
import { mediaFailure } from './callMedia.ts';

/** Header names as the SIP layer keys them; values were validated with the dial (X- headers only). */
function lowerCased(headers: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) out[k.toLowerCase()] = v;
  return out;
}

/** How long a destination with alternates gets to send any response before the next is tried. */
export const FAILOVER_AFTER_MS = 4000;

export type LegOutcome = { answered: true; status: number } | { answered: false; result: DialOutcome; status?: number };

/**
 * What a leg's progress and answer mean depends on why it was placed: for a dial, the caller is
 * answered and bridged; for a transfer, the transferee is moved to a new bridge.
 */
export interface LegPurpose {
  /** The body of the leg's INVITE (the caller's SDP offer, through the relay for this leg), or none for a late offer. */
  offer(channel: Channel): Promise<{ type: string; content: string } | undefined>;
  maxForwards: number;
  /** A dial for the caller stops once the caller has its final answer; a transfer does not. */
  answersCaller: boolean;
  progress(res: SipResponse, channel: Channel): void;
  /** The leg answered: take it (and ACK it, now or later) or refuse it (false: it is hung up). */
  answered(channel: Channel, res: SipResponse, inviteSeq: number, options: LegOptions): Promise<boolean>;
}

/** A dial's legs answer the caller: the caller's INVITE supplies the offer. */
export function dialPurpose(call: Call): LegPurpose {
  const invite = call.inviteTx.request;
  const offer = bodyOf(invite);
  return {
    // Each branch gets ports of its own: the caller's offer goes through the relay once per branch.
    offer: (channel) => call.media.offer(call.inbound, channel, offer),
    maxForwards: Math.max(0, Number(invite.headers['max-forwards'] ?? 70) - 1),
    answersCaller: true,
    progress: (res, channel) => void call.relayProgress(res, channel),
    answered: async (channel, res, seq, options) => {
      if (!(await call.answer(channel, res, options))) return false;
      if (call.acksImmediately) call.sendAck(channel, seq);
      return true;
    },
  };
}

export class OutboundLeg {
  readonly outcome: Promise<LegOutcome>;
  private settle!: (o: LegOutcome) => void;
  private tx?: ClientTransaction;
  private invite!: SipRequest;
  private ringTimer?: NodeJS.Timeout;
  private failoverTimer?: NodeJS.Timeout;
  private cancelledAs?: HangupCause;
  private cancelSent = false;
  private done = false;
  private winning = false;
  private challengeAnswered = false;
  /** The INVITE's body as the relay rewrote it for this leg (kept for a resend after a challenge or failover). */
  private offer: { type: string; content: string } | undefined;
  private readonly alternates: Peer[];

  private constructor(
    private readonly call: Call,
    readonly channel: Channel,
    private readonly dest: Destination,
    private readonly options: LegOptions,
    private readonly purpose: LegPurpose,
    /** When the leg stops ringing (its dial's timeout), as a restart must know it. */
    private readonly ringUntil: number,
  ) {
    this.alternates = [...(dest.alternates ?? [])];
    call.outbound.add(channel);
    this.outcome = new Promise((r) => (this.settle = r));
  }

  /** A new leg to `dest`: its channel and dialog are made now, its INVITE sent. */
  static place(call: Call, dest: Destination, caller: Party, options: LegOptions, purpose: LegPurpose): OutboundLeg {
    const from = dest.from ?? caller;
    const dialog = new SipDialog({
      callId: newCallId(),
      localTag: newLocalTag(),
      remoteTag: null,
      localUri: from.uri,
      remoteUri: dest.to.uri,
      localSeq: 0,
      remoteSeq: 0,
      remoteTarget: dest.requestUri,
      routeSet: dest.route ?? [],
      peer: dest.peer,
    });
    const channel = new Channel(call, {
      direction: 'outbound',
      dialog,
      from,
      to: dest.to,
      target: dest.target,
      ...(dest.account ? { account: dest.account } : {}),
      ...(dest.provider ? { provider: dest.provider } : {}),
      peer: dest.peer,
    });
    const leg = new OutboundLeg(call, channel, dest, options, purpose, Date.now() + options.timeout * 1000);
    leg.ringTimer = setTimeout(() => leg.cancel('no-answer'), options.timeout * 1000).unref();
    void leg.start();
    return leg;
  }

  /** The offer through the relay first (this leg's ports), then the INVITE; a refused offer fails the leg. */
  private async start(): Promise<void> {
    try {
      this.offer = await this.purpose.offer(this.channel);
    } catch (err) {
      const failure = mediaFailure(err);
      this.channel.log.warn({ err: (err as Error).message, status: failure.status }, 'media relay refused the offer: leg not placed');
      this.channel.hungUp(failure.result === 'unavailable' ? 'unavailable' : 'rejected', 'switch', failure.status);
      this.finish({ answered: false, result: failure.result, status: failure.status });
      return;
    }
    // Given up on while the relay answered.
    if (this.done || this.cancelledAs) {
      void this.call.media.drop(this.channel);
      return;
    }
    this.sendInvite();
  }

  /**
   * A leg a previous run of this node placed and that was ringing when it stopped: its INVITE was
   * sent and answered provisionally, so its client transaction waits under the old branch for the
   * final answer, which it handles as any leg would (it can still be cancelled).
   */
  static resume(call: Call, channel: Channel, pending: PendingInvite, purpose: LegPurpose): OutboundLeg {
    const d = channel.dialog.state;
    const dest: Destination = { requestUri: pending.requestUri, to: channel.init.to, peer: d.peer, target: channel.init.target ?? channel.init.to.user };
    const remaining = Math.max(0, pending.ringUntil - Date.now());
    const options = { timeout: remaining / 1000, delay: 0, ...(pending.transfer !== undefined ? { transfer: pending.transfer } : {}) };
    const leg = new OutboundLeg(call, channel, dest, options, purpose, pending.ringUntil);
    leg.invite = {
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
    leg.tx = call.services.stack.clientTransactions.resume(leg.invite, d.peer, leg.handlers(leg.invite, d.peer), pending.branch);
    channel.pendingInvite = pending;
    leg.ringTimer = setTimeout(() => leg.cancel('no-answer'), remaining).unref();
    return leg;
  }

  /** What the transaction of `invite` (sent to `peer`) reports goes to this leg while it is the current one. */
  private handlers(invite: SipRequest, peer: Peer): ClientTransactionHandlers {
    const handlers: ClientTransactionHandlers = {
      onProvisional: (res) => {
        if (this.invite === invite) this.provisional(res);
      },
      onFinal: (res) => {
        if (this.invite === invite) this.final(res);
        else if (res.status < 300) this.hangUpStray(res, peer, invite);
      },
      onRetransmitted2xx: () => {
        if (this.invite === invite) this.call.sendAck(this.channel, invite.headers.cseq!.seq);
      },
    };
    return handlers;
  }

  /** Sends the INVITE (again, after a challenge or to the next address) in a new transaction. */
  private sendInvite(authorization?: { header: string; value: unknown }): void {
    const stack = this.call.services.stack;
    const peer = this.channel.dialog.state.peer;
    const display = this.channel.init.from.display;
    const invite = this.channel.dialog.request(
      'INVITE',
      stack.contact(peer.transport),
      {
        ...lowerCased(this.options.headers),
        ...this.dest.headers,
        'max-forwards': String(this.purpose.maxForwards),
        allow: 'INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY',
        ...(authorization ? { [authorization.header]: authorization.value } : {}),
      },
      this.offer,
    );
    if (display) invite.headers.from = { ...invite.headers.from!, name: quotedDisplay(display) };
    // What a restart needs is recorded first: a send that fails at once settles the leg right away.
    const branch = newBranch();
    this.channel.pendingInvite = {
      branch,
      requestUri: invite.uri,
      cseq: invite.headers.cseq!.seq,
      ringUntil: this.ringUntil,
      ...(this.options.transfer !== undefined ? { transfer: this.options.transfer } : {}),
    };
    this.invite = invite;
    clearTimeout(this.failoverTimer);
    if (this.alternates.length || this.dest.giveUpWhenSilent) this.failoverTimer = setTimeout(() => this.silent(), FAILOVER_AFTER_MS).unref();
    this.tx = stack.clientTransactions.send(invite, peer, this.handlers(invite, peer), branch);
  }

  /** Nothing at all from the current address in time: the next one, or (a server) the next route. */
  private silent(): void {
    if (this.failOver(true) || !this.dest.giveUpWhenSilent || this.done || this.cancelledAs || this.tx?.gotProvisional) return;
    this.channel.log.info({ peer: this.channel.dialog.state.peer, afterMs: FAILOVER_AFTER_MS }, 'destination did not answer at all: giving up on it');
    this.cancel('unavailable');
  }

  /** The current address did not answer (in time) or is unavailable: try the next, if any. */
  private failOver(afterSilence: boolean): boolean {
    if (this.done || this.cancelledAs || (afterSilence && this.tx?.gotProvisional)) return false;
    const next = this.alternates.shift();
    if (!next) return false;
    this.channel.log.info({ from: this.channel.dialog.state.peer, to: next }, 'destination did not answer: trying the next address');
    this.channel.dialog.state.peer = next;
    // The one challenge we answer is per address: the next server's nonce and realm are its own.
    this.challengeAnswered = false;
    this.sendInvite();
    return true;
  }

  /** A 2xx from an address we had moved on from: complete its handshake and hang it up. */
  private hangUpStray(res: SipResponse, peer: Peer, invite: SipRequest): void {
    const stack = this.call.services.stack;
    const stray = new SipDialog({ ...this.channel.dialog.state, routeSet: [...this.channel.dialog.state.routeSet], peer, localSeq: invite.headers.cseq!.seq });
    stray.confirmFrom(res);
    stack.sendStateless(stray.ack(invite.headers.cseq!.seq, stack.contact(peer.transport)), peer);
    stack.clientTransactions.send(stray.request('BYE', stack.contact(peer.transport)), peer, { onFinal: () => {} });
  }

  private provisional(res: SipResponse): void {
    clearTimeout(this.failoverTimer);
    if (this.cancelledAs) {
      this.sendCancel();
      return;
    }
    if (res.status === 100) return;
    this.channel.setState('ringing');
    this.purpose.progress(res, this.channel);
  }

  private final(res: SipResponse): void {
    clearTimeout(this.failoverTimer);
    if (!this.done && !this.cancelledAs && res.status >= 300 && this.retried(res)) return;
    clearTimeout(this.ringTimer);
    this.channel.pendingInvite = undefined;
    const seq = this.invite.headers.cseq!.seq;
    if (this.done) {
      // Given up on before it ever answered provisionally, and now it answers after all.
      if (res.status < 300) {
        this.channel.dialog.confirmFrom(res);
        this.call.sendAck(this.channel, seq);
        this.call.byeRequest(this.channel);
      }
      return;
    }
    if (res.status < 300) {
      this.channel.dialog.confirmFrom(res);
      // Answering the caller cancels every branch still dialling: not this one.
      this.winning = !this.cancelledAs;
      void this.take(res, seq);
      return;
    }
    if (this.cancelledAs) {
      this.channel.hungUp(this.cancelledAs, 'switch', res.status);
      this.finish({ answered: false, result: this.cancelledAs === 'no-answer' ? 'no-answer' : 'cancelled', status: res.status });
      return;
    }
    const failure = failureOfResponse(res.status);
    this.channel.hungUp(failure.cause, 'callee', res.status);
    this.finish({ answered: false, result: failure.result, status: res.status });
  }

  /** A 2xx: the purpose takes the leg (its answer through the relay first), or it is hung up at once. */
  private async take(res: SipResponse, seq: number): Promise<void> {
    if (this.cancelledAs || !(await this.purpose.answered(this.channel, res, seq, this.options))) {
      // Answered after we gave up on it (a race with CANCEL) or after another branch won:
      // complete the handshake and hang up, so no phone is left connected to nobody.
      this.call.sendAck(this.channel, seq);
      this.call.sendBye(this.channel, this.cancelledAs ?? 'answered-elsewhere', 'switch');
      this.finish({ answered: false, result: 'cancelled', status: res.status });
      return;
    }
    this.call.services.dialogs.add(this.channel);
    this.finish({ answered: true, status: res.status });
  }

  /** A challenge answered once with the destination's credentials, or the next address tried. */
  private retried(res: SipResponse): boolean {
    if ((res.status === 401 || res.status === 407) && this.dest.auth && !this.challengeAnswered) {
      const challenge = readChallenge(res);
      if (!challenge) return false;
      this.challengeAnswered = true;
      this.sendInvite({ header: challenge.header, value: [answerChallenge(challenge, this.dest.auth, 'INVITE', this.invite.uri)] });
      return true;
    }
    if (res.status === 408 || res.status === 503) return this.failOver(false);
    return false;
  }

  private finish(o: LegOutcome): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.ringTimer);
    clearTimeout(this.failoverTimer);
    // A branch that did not win gives its media ports back now.
    if (!o.answered) this.call.legLeft(this.channel);
    this.settle(o);
  }

  /** Stops ringing this branch. The INVITE's final response (487, normally) settles the outcome. */
  cancel(cause: HangupCause): void {
    if (this.done || this.winning || this.cancelledAs) return;
    this.cancelledAs = cause;
    clearTimeout(this.ringTimer);
    this.channel.hungUp(cause, 'switch');
    // RFC 3261 §9.1: CANCEL only once a provisional response came; otherwise when it does. A
    // destination that has not even said 100 Trying is not waited for: its outcome is settled now,
    // and a late answer is still ACKed and hung up (see final()).
    if (this.tx?.gotProvisional) this.sendCancel();
    else this.finish({ answered: false, result: cause === 'no-answer' || cause === 'unavailable' ? cause : 'cancelled' });
  }

  private sendCancel(): void {
    if (this.cancelSent || !this.tx) return;
    this.cancelSent = true;
    // The CANCEL carries the INVITE's branch: that is how the callee matches it (RFC 3261 §9.1).
    this.call.services.stack.clientTransactions.send(requestOnInvite(this.invite, 'CANCEL'), this.channel.dialog.state.peer, { onFinal: () => {} }, this.tx.branch);
  }
}
