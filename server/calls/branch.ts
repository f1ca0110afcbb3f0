/**
 * One outbound leg of a dial: an INVITE to one destination (a registered phone, a SIP URI), with
 * its own channel, ring timeout and cancellation. Reports exactly one outcome.
 */
import type { SipRequest, SipResponse } from '../sip/message.ts';
import { requestOnInvite, type ClientTransaction } from '../sip/clientTransactions.ts';
import type { Peer } from '../sip/transport.ts';
import type { Call } from './call.ts';
import { Channel } from './channel.ts';
import { bodyOf, newCallId, newLocalTag, SipDialog } from './dialog.ts';
import type { DialOutcome, LegOptions } from '../dialplan/types.ts';
import type { HangupCause, Party } from './events.ts';

/** Header names as the SIP layer keys them; values were validated with the dial (X- headers only). */
function lowerCased(headers: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) out[k.toLowerCase()] = v;
  return out;
}

export interface Destination {
  /** Request-URI: the registered contact or the dialled URI. */
  requestUri: string;
  /** To: the address-of-record being called. */
  to: Party;
  peer: Peer;
  /** The dial-string form of the leg this destination belongs to. */
  target: string;
  account?: string;
}

export type BranchOutcome = { answered: true; status: number } | { answered: false; result: DialOutcome; status?: number };

/**
 * What a branch's progress and answer mean depends on why it was placed: for a dial, the caller is
 * answered and bridged; for a transfer, the transferee is moved to a new bridge.
 */
export interface BranchPurpose {
  /** The INVITE's body (the caller's SDP offer), or none for a late offer. */
  offer?: { type: string; content: string };
  maxForwards: number;
  /** A dial for the caller stops once the caller has its final answer; a transfer does not. */
  answersCaller: boolean;
  progress(res: SipResponse): void;
  /** The branch answered: take it (and ACK it, now or later) or refuse it (false: it is hung up). */
  answered(channel: Channel, res: SipResponse, inviteSeq: number, options: LegOptions): boolean;
}

/** A dial's branches answer the caller: the caller's INVITE supplies the offer. */
export function dialPurpose(call: Call): BranchPurpose {
  const invite = call.inviteTx.request;
  const offer = bodyOf(invite);
  return {
    ...(offer ? { offer } : {}),
    maxForwards: Math.max(0, Number(invite.headers['max-forwards'] ?? 70) - 1),
    answersCaller: true,
    progress: (res) => call.relayProgress(res),
    answered: (channel, res, seq, options) => {
      if (!call.answer(channel, res, options.maxDuration)) return false;
      if (call.acksImmediately) call.sendAck(channel, seq);
      return true;
    },
  };
}

const FAILURE_BY_STATUS = (status: number): { result: DialOutcome; cause: HangupCause } => {
  if (status === 486 || status === 600) return { result: 'busy', cause: 'busy' };
  if (status === 408 || status === 480) return { result: 'no-answer', cause: 'no-answer' };
  if (status === 503 || status === 502 || status === 504) return { result: 'unavailable', cause: 'unavailable' };
  return { result: `rejected:${status}`, cause: 'rejected' };
};

export class Branch {
  readonly channel: Channel;
  readonly outcome: Promise<BranchOutcome>;
  private settle!: (o: BranchOutcome) => void;
  private tx?: ClientTransaction;
  private invite!: SipRequest;
  private ringTimer?: NodeJS.Timeout;
  private cancelledAs?: HangupCause;
  private cancelSent = false;
  private done = false;
  private winning = false;

  constructor(
    private readonly call: Call,
    private readonly dest: Destination,
    caller: Party,
    private readonly options: LegOptions,
    private readonly purpose: BranchPurpose,
  ) {
    const dialog = new SipDialog({
      callId: newCallId(),
      localTag: newLocalTag(),
      remoteTag: null,
      localUri: caller.uri,
      remoteUri: dest.to.uri,
      localSeq: 0,
      remoteSeq: 0,
      remoteTarget: dest.requestUri,
      routeSet: [],
      peer: dest.peer,
    });
    this.channel = new Channel(call, {
      direction: 'outbound',
      dialog,
      from: caller,
      to: dest.to,
      target: dest.target,
      ...(dest.account ? { account: dest.account } : {}),
      peer: dest.peer,
    });
    call.outbound.add(this.channel);
    this.outcome = new Promise((r) => (this.settle = r));
  }

  start(): void {
    const call = this.call;
    const stack = call.services.stack;
    const display = this.channel.init.from.display;
    const invite = this.channel.dialog.request(
      'INVITE',
      stack.contact(this.dest.peer.transport),
      { ...lowerCased(this.options.headers), 'max-forwards': String(this.purpose.maxForwards), allow: 'INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY' },
      this.purpose.offer,
    );
    if (display) invite.headers.from = { ...invite.headers.from!, name: `"${display.replace(/["\\]/g, '')}"` };
    this.invite = invite;
    this.ringTimer = setTimeout(() => this.cancel('no-answer'), this.options.timeout * 1000).unref();
    this.tx = stack.clientTransactions.send(invite, this.dest.peer, {
      onProvisional: (res) => this.provisional(res),
      onFinal: (res) => this.final(res),
      onRetransmitted2xx: () => call.sendAck(this.channel, this.invite.headers.cseq!.seq),
    });
    this.channel.pendingInvite = {
      branch: this.tx.branch,
      requestUri: invite.uri,
      cseq: invite.headers.cseq!.seq,
      ringUntil: Date.now() + this.options.timeout * 1000,
    };
  }

  private provisional(res: SipResponse): void {
    if (this.cancelledAs) {
      this.sendCancel();
      return;
    }
    if (res.status === 100) return;
    this.channel.setState('ringing');
    this.purpose.progress(res);
  }

  private final(res: SipResponse): void {
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
      if (this.cancelledAs || !this.purpose.answered(this.channel, res, seq, this.options)) {
        // Answered after we gave up on it (a race with CANCEL) or after another branch won:
        // complete the handshake and hang up, so no phone is left connected to nobody.
        this.call.sendAck(this.channel, seq);
        this.call.sendBye(this.channel, this.cancelledAs ?? 'answered-elsewhere', 'switch');
        this.finish({ answered: false, result: 'cancelled', status: res.status });
        return;
      }
      this.call.services.dialogs.add(this.channel);
      this.finish({ answered: true, status: res.status });
      return;
    }
    if (this.cancelledAs) {
      this.channel.hungUp(this.cancelledAs, 'switch', res.status);
      this.finish({ answered: false, result: this.cancelledAs === 'no-answer' ? 'no-answer' : 'cancelled', status: res.status });
      return;
    }
    const failure = FAILURE_BY_STATUS(res.status);
    this.channel.hungUp(failure.cause, 'callee', res.status);
    this.finish({ answered: false, result: failure.result, status: res.status });
  }

  private finish(o: BranchOutcome): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.ringTimer);
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
    else this.finish({ answered: false, result: cause === 'no-answer' ? 'no-answer' : 'cancelled' });
  }

  private sendCancel(): void {
    if (this.cancelSent || !this.tx) return;
    this.cancelSent = true;
    // The CANCEL carries the INVITE's branch: that is how the callee matches it (RFC 3261 §9.1).
    this.call.services.stack.clientTransactions.send(requestOnInvite(this.invite, 'CANCEL'), this.dest.peer, { onFinal: () => {} }, this.tx.branch);
  }
}
