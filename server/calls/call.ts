/**
 * One call: the inbound channel that started it, the outbound channels the dialplan placed, and the
 * bridge that joins the answered ones. Owns the caller's INVITE transaction, so every answer to the
 * caller (progress, the final response, the 2xx retransmissions until the ACK) goes through here.
 */
import type { IceCandidateFilter } from './iceCandidates.ts';
import type { Logger } from 'pino';
import type { SipRequest, SipResponse } from '../sip/message.ts';
import type { SipStack } from '../sip/stack.ts';
import { T1, T2, type ServerTransaction } from '../sip/transactions.ts';
import { newId } from '../store/ids.ts';
import { Bridge } from './bridge.ts';
import type { CallContext, Channel } from './channel.ts';
import { bodyOf } from './dialog.ts';
import type { DialogTable } from './dialogTable.ts';
import type { EventBus, HangupCause, TransferPolicy } from './events.ts';
import type { LegOptions } from '../dialplan/types.ts';
import type { PersistedCall } from './persistedCall.ts';
import type { MediaEngine } from '../media/engine.ts';
import { CallMedia } from './callMedia.ts';
import { AudioError } from '../dialplan/callAudio.ts';
import { reofferCaller, sameAudio } from './afterSwitchAnswer.ts';

export interface CallServices {
  stack: SipStack;
  dialogs: DialogTable;
  bus: EventBus;
  /** Calls end by themselves after this long (toll-fraud and stuck-call guard). */
  maxCallMs: number;
  /** The media relay every SDP of the call passes through. */
  media: MediaEngine;
  /** What a browser leg's SDP keeps of its ICE candidates; absent: all. */
  iceFilter?: IceCandidateFilter;
  onEnded(call: Call): void;
}

/** Something the call can stop: a dial in progress. */
export interface Cancellable {
  cancel(cause: HangupCause): void;
}

/**
 * The switch's own audio on the caller's leg (a dialplan's answer(), play(), collect(), record():
 * server/audio/): what happens on the SIP side that it must know of.
 */
export interface CallerAudio {
  /** The caller hung up: whatever waits stops, a recording in progress is stored; resolves once it is. */
  callerHungUp(): Promise<void>;
  /** A digit the caller sent as SIP INFO. */
  dtmf(digit: string): void;
}

/** What a call resumed after a restart brings from its previous run (see persistentState). */
export interface ResumedCall {
  id: string;
  finalSent: boolean;
  lateOffer: boolean;
}

export class Call implements CallContext {
  readonly id: string;
  readonly log: Logger;
  inbound!: Channel;
  readonly outbound = new Set<Channel>();
  readonly bridges = new Set<Bridge>();
  /** Transferees whose transfer is under way: a BYE from the transferer must not reach them. */
  readonly transferring = new Set<Channel>();
  /** Transferers whose transfer succeeded: their BYE ends only their own leg. */
  readonly transferredAway = new Set<Channel>();
  /** The caller has been given a final response. */
  finalSent = false;
  /** The call's audio through the media relay. */
  readonly media: CallMedia;
  /** The dialplan's audio verbs on the caller's leg, while its routing runs (routing.ts sets it). */
  audio: CallerAudio | undefined;
  /** The dialplan answered the caller itself (answer()): the SDP of the switch's 200. */
  private switchAnswer?: { sdp: string };
  /** The caller's ACK for our 2xx came; who waits for it (a re-INVITE may only follow it). */
  private callerAcked = false;
  private readonly ackWaiters: Array<() => void> = [];
  /** A callee's answer is on its way to the caller (through the relay): other answers are too late. */
  private answering = false;
  /** hangupAll is ending every leg at once. */
  private endingAll = false;
  private maxDuration?: NodeJS.Timeout;
  /** The caller's INVITE had no SDP: its ACK carries the answer for the callee (late offer). */
  private lateOffer = false;
  private pendingAck?: { channel: Channel; seq: number };
  /** Re-INVITEs relayed to this call's parties whose 2xx still waits for its ACK. */
  private readonly reinvites = new Set<ServerTransaction>();
  private readonly dialing = new Set<Cancellable>();
  private ended = false;

  constructor(
    readonly tenantId: string,
    readonly inviteTx: ServerTransaction,
    readonly services: CallServices,
    log: Logger,
    resumed?: ResumedCall,
  ) {
    this.id = resumed?.id ?? newId();
    this.log = log.child({ callId: this.id, tenantId });
    this.lateOffer = resumed ? resumed.lateOffer : !inviteTx.request.content;
    this.finalSent = resumed?.finalSent ?? false;
    this.media = new CallMedia(services.media, this.id, this.log, services.iceFilter);
  }

  /** A resumed answered call ends at the deadline its previous run set. */
  resumeDeadline(maxUntil: number | null): void {
    if (maxUntil === null || this.answeredAt === undefined) return;
    this.limitMs = maxUntil - this.answeredAt;
    this.maxDuration = setTimeout(() => this.hangupAll('max-duration'), Math.max(0, maxUntil - Date.now())).unref();
  }

  get bus(): EventBus {
    return this.services.bus;
  }

  get caller(): Channel {
    return this.inbound;
  }

  get answered(): boolean {
    return this.bridges.size > 0;
  }

  /** Whether the caller's leg was answered by the switch itself (a dialplan's answer()). */
  get answeredBySwitch(): boolean {
    return this.switchAnswer !== undefined;
  }

  /**
   * Whether a dial may still connect the caller to someone: not answered yet, or answered by the
   * switch (a menu's choice) and still there, in no bridge.
   */
  get awaitsParty(): boolean {
    return this.switchAnswer ? this.inbound.live && !this.answered : !this.finalSent;
  }

  /**
   * The dialplan answers the caller itself (answer()): our 200 with the switch's SDP (the media
   * engine's endpoint for this leg), and the caller's leg is up without a bridge. The script is
   * told when the caller is gone already.
   */
  answerBySwitch(sdp: string): void {
    // Whatever happens next, the engine holds this leg now: its ports go when the call ends.
    this.media.answeredBySwitch(this.inbound);
    if (this.finalSent || !this.inbound.live) throw new AudioError('answer: the caller hung up');
    this.finalSent = true;
    this.switchAnswer = { sdp };
    this.inviteTx.respond(200, 'OK', { contact: this.contactHeader() }, { type: 'application/sdp', content: sdp });
    this.awaitCallerAck();
    this.inbound.setState('up');
    this.limitMs = this.services.maxCallMs;
    this.maxDuration = setTimeout(() => this.hangupAll('max-duration'), this.limitMs).unref();
    this.inbound.log.info('the dialplan answered the call');
  }

  /**
   * Resolves once the caller has ACKed our 2xx: a request of ours in its dialog (a re-INVITE) must
   * not overtake the INVITE's handshake (RFC 3261 §14.1). Never, if the ACK never comes (the call
   * ends then).
   */
  callerAck(): Promise<void> {
    if (this.callerAcked) return Promise.resolve();
    return new Promise((resolve) => this.ackWaiters.push(resolve));
  }

  /** The dialplan hangs up a call it answered itself (hangup(), or its end): BYE to the caller. */
  hangupBySwitch(cause: HangupCause = 'normal'): void {
    if (!this.inbound.live) return;
    this.inbound.log.info({ cause }, 'the dialplan hung up');
    for (const d of [...this.dialing]) d.cancel('cancelled');
    this.sendBye(this.inbound, cause, 'switch');
    this.maybeEnd();
  }

  bridgeOf(channel: Channel): Bridge | undefined {
    for (const b of this.bridges) if (b.channels.has(channel)) return b;
    return undefined;
  }

  newBridge(transfers: TransferPolicy, ...channels: Channel[]): Bridge {
    const bridge = new Bridge(this, transfers);
    this.bridges.add(bridge);
    for (const c of channels) bridge.push(c);
    return bridge;
  }

  attachInbound(channel: Channel): void {
    this.inbound = channel;
    this.services.dialogs.add(channel);
  }

  trackDial(d: Cancellable): () => void {
    this.dialing.add(d);
    return () => this.dialing.delete(d);
  }

  /** A 180/183 from a callee goes to the caller (with its SDP through the relay: early media). */
  async relayProgress(res: SipResponse, callee: Channel): Promise<void> {
    if (this.finalSent || !this.inbound.live) return;
    let body = bodyOf(res);
    if (body) {
      try {
        // With a late offer, the callee's SDP is the offer; otherwise it answers the caller's.
        body = this.lateOffer ? await this.media.offer(callee, this.inbound, body) : await this.media.answer(this.inbound, callee, body, true);
      } catch (err) {
        callee.log.warn({ err: (err as Error).message }, 'media relay refused early media: progress relayed without it');
        body = undefined;
      }
      if (this.finalSent || !this.inbound.live) return;
    }
    this.inviteTx.respond(res.status, res.reason, { contact: this.contactHeader() }, body);
    this.inbound.setState('ringing');
  }

  /** A progress response of the switch's own (the dialplan's respond(180)). */
  progress(status: number, reason?: string): void {
    if (this.finalSent || !this.inbound.live) return;
    this.inviteTx.respond(status, reason, { contact: this.contactHeader() });
    this.inbound.setState('ringing');
  }

  private contactHeader() {
    return [{ uri: this.services.stack.contact(this.inbound.peer.transport).replace(/^<|>$/g, ''), params: {} }];
  }

  /**
   * A callee answered: answer the caller with the callee's SDP, bridge the two, stop every other
   * branch. Returns false if the call can no longer be answered (the caller gave up meanwhile).
   */
  async answer(callee: Channel, res: SipResponse, options: { maxDuration?: number; transfer?: LegOptions['transfer'] } = {}): Promise<boolean> {
    if (this.switchAnswer) return this.connectAnswered(callee, res, options);
    if (this.finalSent || !this.inbound.live || this.answering) return false;
    this.answering = true;
    let body: { type: string; content: string } | undefined;
    try {
      // With a late offer, the callee's 200 offers and the caller's ACK answers (awaitCallerAck).
      body = this.lateOffer ? await this.media.offer(callee, this.inbound, bodyOf(res)) : await this.media.answer(this.inbound, callee, bodyOf(res));
    } catch (err) {
      callee.log.warn({ err: (err as Error).message }, "media relay refused the callee's answer: this branch fails");
      return false;
    } finally {
      this.answering = false;
    }
    if (this.finalSent || !this.inbound.live) return false;
    this.finalSent = true;
    this.inviteTx.respond(200, 'OK', { contact: this.contactHeader() }, body);
    this.awaitCallerAck();
    this.inbound.setState('up');
    callee.setState('up');
    this.newBridge(transferPolicy(options.transfer), this.inbound, callee);
    for (const d of [...this.dialing]) d.cancel('answered-elsewhere');
    this.limitMs = Math.min(this.services.maxCallMs, (options.maxDuration ?? Infinity) * 1000);
    this.maxDuration = setTimeout(() => this.hangupAll('max-duration'), this.limitMs).unref();
    if (this.lateOffer) this.pendingAck = { channel: callee, seq: callee.dialog.state.localSeq };
    return true;
  }

  /**
   * A party a dial reached after the switch had answered the caller itself (a menu's choice): the
   * caller already has our 200, so the callee's answer is not a second one. Any prompt stops, the
   * callee's SDP answers the caller's offer through the relay, and only if that changes what the
   * caller was given (the callee chose other codecs) is the caller re-INVITEd; then the two are
   * bridged like any answered call (a BYE from either ends both).
   */
  private async connectAnswered(callee: Channel, res: SipResponse, options: { maxDuration?: number; transfer?: LegOptions['transfer'] }): Promise<boolean> {
    const switchAnswer = this.switchAnswer!;
    if (!this.inbound.live || this.answered || this.answering) return false;
    this.answering = true;
    let body: { type: string; content: string } | undefined;
    try {
      await this.services.media.stopPlay({ callId: this.id, tag: this.inbound.id }).catch(() => {});
      body = await this.media.answer(this.inbound, callee, bodyOf(res));
    } catch (err) {
      callee.log.warn({ err: (err as Error).message }, "media relay refused the callee's answer: this branch fails");
      return false;
    } finally {
      this.answering = false;
    }
    if (!this.inbound.live) return false;
    callee.setState('up');
    this.newBridge(transferPolicy(options.transfer), this.inbound, callee);
    for (const d of [...this.dialing]) d.cancel('answered-elsewhere');
    if (options.maxDuration !== undefined) {
      // The dial's own limit counts from now; the call's never grows.
      clearTimeout(this.maxDuration);
      const since = Date.now() - (this.answeredAt ?? Date.now());
      this.limitMs = Math.min(this.limitMs, since + options.maxDuration * 1000);
      this.maxDuration = setTimeout(() => this.hangupAll('max-duration'), this.limitMs - since).unref();
    }
    const calleeBody = bodyOf(res);
    if (body && calleeBody && !sameAudio(switchAnswer.sdp, body.content)) {
      this.inbound.log.info({ calleeChannelId: callee.id }, "the callee's audio differs from the switch's answer: re-INVITE to the caller");
      void reofferCaller(this, callee, calleeBody);
    }
    this.inbound.log.info({ calleeChannelId: callee.id }, 'the caller the dialplan answered is connected to a callee');
    return true;
  }

  /**
   * The caller's ACK for our 2xx (which its transaction resends until then). With a late offer it
   * carries the SDP answer for the callee. Without it in time the caller is gone: the call ends.
   */
  awaitCallerAck(pendingAck?: { channel: Channel; seq: number }): void {
    if (pendingAck) this.pendingAck = pendingAck;
    this.inviteTx.expectAck({
      acked: (ack) => {
        this.callerAcked = true;
        for (const waiter of this.ackWaiters.splice(0)) waiter();
        const pending = this.pendingAck;
        if (!pending) return;
        this.pendingAck = undefined;
        void this.media.answer(pending.channel, this.inbound, bodyOf(ack)).then(
          (body) => this.sendAck(pending.channel, pending.seq, body),
          (err: Error) => {
            this.log.warn({ err: err.message, channelId: this.inbound.id }, "media relay refused the caller's answer in its ACK: ending the call");
            this.sendAck(pending.channel, pending.seq);
            this.hangupAll('switch-error');
          },
        );
      },
      lost: () => {
        this.log.warn({ channelId: this.inbound.id }, 'no ACK for our 2xx: ending the call');
        this.hangupAll('switch-error');
      },
    });
  }

  /**
   * The ACK of a 2xx relayed to a re-INVITE (its transaction resends the 2xx until then): `onAck`
   * gets it, or nothing once it is given up on. A late offer's answer travels in it.
   */
  awaitAck(tx: ServerTransaction, onAck: (ack: SipRequest | undefined) => void): void {
    this.reinvites.add(tx);
    tx.expectAck({
      acked: (ack) => {
        this.reinvites.delete(tx);
        onAck(ack);
      },
      lost: () => {
        this.reinvites.delete(tx);
        this.log.warn({ sipCallId: tx.request.headers['call-id'], cseq: tx.request.headers.cseq?.seq }, 'no ACK for the 2xx to a re-INVITE');
        onAck(undefined);
      },
    });
  }

  /** ACK for a callee's 2xx to our INVITE (a new transaction of its own, §13.2.2.4). */
  sendAck(callee: Channel, seq: number, body?: { type: string; content: string }): void {
    const stack = this.services.stack;
    stack.sendStateless(callee.dialog.ack(seq, stack.contact(callee.peer.transport), body), callee.peer);
  }

  /** Whether the callee's 2xx should be ACKed at once (early offer) or wait for the caller's ACK. */
  get acksImmediately(): boolean {
    return !this.lateOffer;
  }

  /** A final failure to the caller (from the dialplan, a failed dial, or the switch). */
  reject(status: number, reason: string | undefined, cause: HangupCause): void {
    if (this.finalSent) return;
    this.finalSent = true;
    this.inviteTx.respond(status, reason);
    this.inbound.hungUp(cause, 'switch', status);
    for (const d of [...this.dialing]) d.cancel('cancelled');
    this.maybeEnd();
  }

  /** The caller sent CANCEL before any answer: stop every branch, 487 to the INVITE. */
  callerCancelled(): void {
    if (this.finalSent) return;
    this.finalSent = true;
    // The dialplan's audio waits for nothing more (nothing can be recorded before the answer).
    void this.audio?.callerHungUp();
    for (const d of [...this.dialing]) d.cancel('cancelled');
    this.inviteTx.respond(487, 'Request Terminated');
    this.inbound.hungUp('cancelled', 'caller', 487);
    this.maybeEnd();
  }

  /** A BYE from one side of the bridge: it ends, the other side gets a BYE from us. */
  byeFrom(channel: Channel, tx: ServerTransaction): void {
    tx.respond(200, 'OK');
    if (channel === this.inbound && this.audio) {
      void this.callerLeftDialplan(this.audio);
      return;
    }
    const by = channel === this.inbound ? 'caller' : 'callee';
    this.legEnded(channel, this.transferredAway.has(channel) ? 'transferred' : 'normal', by);
  }

  /**
   * The caller hung up while its dialplan has its audio (answered by the switch): a recording in
   * progress is stored first, then the leg ends as any caller's BYE ends it, and a dial still
   * ringing for it stops. The media go when the call ends, after the dialplan.
   */
  private async callerLeftDialplan(audio: CallerAudio): Promise<void> {
    this.audio = undefined;
    this.inbound.log.info('the caller hung up while the dialplan ran');
    try {
      await audio.callerHungUp();
    } catch (err) {
      this.inbound.log.warn({ err: (err as Error).message }, "the dialplan's audio could not finish for a caller who hung up");
    }
    for (const d of [...this.dialing]) d.cancel('cancelled');
    this.legEnded(this.inbound, 'normal', 'caller');
  }

  /** The connection that was a leg's only way to its peer (a browser's WebSocket) closed: it ends as if by BYE. */
  connectionLost(channel: Channel): void {
    if (!channel.live) return;
    channel.log.info({ transport: channel.peer.transport }, 'leg ended: its connection closed');
    this.legEnded(channel, 'connection-lost', 'switch');
  }

  private legEnded(channel: Channel, cause: HangupCause, by: 'caller' | 'callee' | 'switch'): void {
    const bridge = this.bridgeOf(channel);
    channel.hungUp(cause, by);
    this.services.dialogs.remove(channel);
    for (const other of bridge?.peersOf(channel) ?? []) if (!this.transferring.has(other)) this.sendBye(other, cause === 'transferred' ? 'normal' : cause, by);
    if (bridge && !bridge.peersOf(channel).length) {
      this.bridges.delete(bridge);
      bridge.destroy();
    }
    this.legLeft(channel);
    this.maybeEnd();
  }

  /** A leg ended while others carry on (a transferer, a branch): its media ports go now, not with the call. */
  legLeft(channel: Channel): void {
    if (this.endingAll) return;
    if (this.inbound.live || [...this.outbound].some((c) => c.live)) void this.media.drop(channel);
  }

  /** The tenant ends the call (portal, API): a caller still waiting is told 487, answered legs get a BYE. */
  endByTenant(): void {
    if (!this.finalSent) {
      for (const d of [...this.dialing]) d.cancel('cancelled');
      this.reject(487, 'Request Terminated', 'cancelled');
      return;
    }
    this.hangupAll('normal');
  }

  /** Ends every live leg (max duration, no ACK, shutdown). */
  hangupAll(cause: HangupCause): void {
    for (const d of [...this.dialing]) d.cancel('cancelled');
    if (!this.finalSent) {
      this.reject(cause === 'max-duration' ? 408 : 500, undefined, cause);
      return;
    }
    // Every leg goes: their media ports go with the call (maybeEnd), each leg's figures recorded once.
    this.endingAll = true;
    for (const c of [this.inbound, ...this.outbound]) if (c.live && c.state === 'up') this.sendBye(c, cause, 'switch');
    this.maybeEnd();
  }

  sendBye(channel: Channel, cause: HangupCause, by: 'caller' | 'callee' | 'switch'): void {
    if (!channel.live) return;
    channel.hungUp(cause, by);
    this.services.dialogs.remove(channel);
    this.byeRequest(channel);
    this.legLeft(channel);
  }

  /** Sends BYE in a channel's dialog, whatever its state (a late 2xx to a branch given up on). */
  byeRequest(channel: Channel): void {
    const stack = this.services.stack;
    const bye = channel.dialog.request('BYE', stack.contact(channel.peer.transport));
    stack.clientTransactions.send(bye, channel.peer, {
      onFinal: (res) => {
        if (res.status >= 300) channel.log.info({ status: res.status }, 'BYE not accepted by the other side');
      },
    });
  }

  /**
   * Everything a restarted node needs to carry on with this call (issue: restarts): the caller's
   * INVITE (to answer it or match its CANCEL), every dialog (to relay BYE and re-INVITE), every
   * INVITE still ringing (to CANCEL it, or ACK+BYE a late 2xx), bridges and deadlines.
   */
  persistentState(): Omit<PersistedCall, 'record'> {
    const req = this.inviteTx.request;
    const channels = [this.inbound, ...this.outbound].filter((c) => c.live);
    const unacked2xx = this.inviteTx.unacked2xx;
    const media = this.media.persistentState();
    return {
      version: 1,
      callId: this.id,
      tenantId: this.tenantId,
      caller: {
        channelId: this.inbound.id,
        inviteKey: this.inviteTx.key,
        toTag: this.inviteTx.toTag,
        head: { via: req.headers.via!, from: req.headers.from!, to: req.headers.to!, callId: req.headers['call-id']!, cseq: req.headers.cseq! },
        peer: this.inviteTx.responsePeer,
        finalSent: this.finalSent,
        lateOffer: this.lateOffer,
        ...(unacked2xx !== undefined ? { unacked2xx } : {}),
        ...(this.pendingAck ? { pendingAck: { channelId: this.pendingAck.channel.id, seq: this.pendingAck.seq } } : {}),
        ...(this.switchAnswer ? { answeredBySwitch: true } : {}),
      },
      channels: channels.map((c) => ({
        snapshot: c.snapshot(),
        dialog: c.dialog.state,
        ...(c.pendingInvite ? { pendingInvite: c.pendingInvite } : {}),
      })),
      bridges: [...this.bridges].map((b) => b.snapshot()),
      maxUntil: this.answeredAt ? this.answeredAt + this.limitMs : null,
      ...(media ? { media } : {}),
    };
  }

  private limitMs = 0;

  private get answeredAt(): number | undefined {
    return this.inbound.answeredAt;
  }

  /** When no channel is live any more, the call is over: tidy up once and say so. */
  maybeEnd(): void {
    if (this.ended) return;
    if (this.inbound.live || [...this.outbound].some((c) => c.live)) return;
    if (this.dialing.size) return;
    this.ended = true;
    this.inviteTx.stopAwaitingAck();
    for (const tx of this.reinvites) tx.stopAwaitingAck();
    this.reinvites.clear();
    clearTimeout(this.maxDuration);
    for (const b of this.bridges) b.destroy();
    this.bridges.clear();
    this.services.dialogs.remove(this.inbound);
    for (const c of this.outbound) this.services.dialogs.remove(c);
    this.services.onEnded(this);
    // The record closes once the legs' final audio figures are in it and their ports are free.
    void this.media.end([this.inbound, ...this.outbound]).then(() => this.bus.emit({ type: 'call.ended', tenantId: this.tenantId, callId: this.id }));
  }
}

/** A dial's `transfer` option as the bridge it makes keeps it. */
export function transferPolicy(option: LegOptions['transfer']): TransferPolicy {
  return option === true ? 'anyone' : option === 'phones' ? 'phones' : 'nobody';
}

/** The dial option that gives a bridge `policy` (a transfer's new bridge keeps the old one's). */
export function transferOption(policy: TransferPolicy): LegOptions['transfer'] {
  return policy === 'anyone' ? true : policy === 'phones' ? 'phones' : false;
}
