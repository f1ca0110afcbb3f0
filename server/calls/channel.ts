import type { Logger } from 'pino';
import { newId } from '../store/ids.ts';
import type { Peer } from '../sip/transport.ts';
import type { SipDialog } from './dialog.ts';
import type { ChannelSnapshot, ChannelState, EventBus, HangupCause, LegMedia, Party } from './events.ts';

export interface PendingInvite {
  branch: string;
  requestUri: string;
  cseq: number;
  ringUntil: number;
  /** The leg's `transfer` option, for the bridge it makes if it answers after a restart. */
  transfer?: boolean | 'phones';
}

/** What every part of one call shares. */
export interface CallContext {
  readonly id: string;
  readonly tenantId: string;
  readonly bus: EventBus;
  readonly log: Logger;
}

export interface ChannelInit {
  direction: 'inbound' | 'outbound';
  dialog: SipDialog;
  from: Party;
  to: Party;
  target?: string;
  account?: string;
  provider?: string;
  peer: Peer;
}

/**
 * One SIP dialog leg with a stable id (UUIDv7) for its whole life: transfers and pickups move it
 * between bridges, nothing renames it. Every state change is an event with a full snapshot.
 */
/** What a leg has been through so far, as its snapshot reports it. */
type Progress = Pick<ChannelSnapshot, 'ringingAt' | 'answeredAt' | 'endedAt' | 'bridgeId' | 'hangupCause' | 'sipStatus' | 'media'>;

export class Channel {
  readonly id: string;
  state: ChannelState = 'down';
  readonly createdAt: number;
  private readonly progress: Progress;
  /** Outbound, until its INVITE has a final answer: what a CANCEL (or a restart) needs. */
  pendingInvite?: PendingInvite;
  readonly log: Logger;

  /** `restored`: the channel as a previous run of this node left it (same id, times and state). */
  constructor(
    readonly call: CallContext,
    readonly init: ChannelInit,
    restored?: ChannelSnapshot,
  ) {
    this.id = restored?.id ?? newId();
    this.createdAt = restored?.createdAt ?? Date.now();
    this.log = call.log.child({ channelId: this.id });
    const { ringingAt, answeredAt, endedAt, bridgeId, hangupCause, sipStatus, media } = restored ?? {};
    // Only what the restored snapshot has: a snapshot never carries a key without a value.
    this.progress = Object.fromEntries(Object.entries({ ringingAt, answeredAt, endedAt, bridgeId, hangupCause, sipStatus, media }).filter(([, v]) => v !== undefined)) as Progress;
    if (restored) {
      this.state = restored.state;
      // Consumers that started with this run (the live view) learn of the channel here.
      call.bus.emit({ type: 'channel.state', tenantId: call.tenantId, callId: call.id, channel: this.snapshot() });
      return;
    }
    call.bus.emit({ type: 'channel.created', tenantId: call.tenantId, callId: call.id, channel: this.snapshot() });
  }

  get answeredAt(): number | undefined {
    return this.progress.answeredAt;
  }

  get bridgeId(): string | undefined {
    return this.progress.bridgeId;
  }

  /** The bridge the channel is in (the Bridge sets it as the channel enters and leaves). */
  set bridgeId(id: string | undefined) {
    if (id === undefined) delete this.progress.bridgeId;
    else this.progress.bridgeId = id;
  }

  get dialog(): SipDialog {
    return this.init.dialog;
  }

  /** Where this channel's other end is now (a provider leg may have failed over to another address). */
  get peer(): Peer {
    return this.init.dialog.state.peer;
  }

  get direction(): 'inbound' | 'outbound' {
    return this.init.direction;
  }

  get live(): boolean {
    return this.state !== 'hungup';
  }

  snapshot(): ChannelSnapshot {
    const i = this.init;
    return {
      id: this.id,
      callId: this.call.id,
      tenantId: this.call.tenantId,
      direction: i.direction,
      state: this.state,
      protocolId: i.dialog.state.callId,
      from: i.from,
      to: i.to,
      ...(i.target ? { target: i.target } : {}),
      ...(i.account ? { account: i.account } : {}),
      ...(i.provider ? { provider: i.provider } : {}),
      peer: { address: this.peer.address, port: this.peer.port, transport: this.peer.transport },
      createdAt: this.createdAt,
      ...this.progress,
    };
  }

  /** down → ringing → up; a state is entered once, hung up is final. */
  setState(state: 'ringing' | 'up'): void {
    if (!this.live || this.state === state || (state === 'ringing' && this.state === 'up')) return;
    this.state = state;
    if (state === 'ringing') this.progress.ringingAt = Date.now();
    else {
      this.progress.answeredAt = Date.now();
      // The leg's final answer was a 2xx: its record shows that, not nothing.
      this.progress.sipStatus ??= 200;
    }
    this.call.bus.emit({ type: 'channel.state', tenantId: this.call.tenantId, callId: this.call.id, channel: this.snapshot() });
  }

  get media(): LegMedia | undefined {
    return this.progress.media;
  }

  /**
   * What the media relay says of this leg's audio (silent, or its figures), kept in the snapshot
   * and announced, also after the leg hung up: its final figures come once its ports are freed.
   */
  setMedia(media: LegMedia): void {
    this.progress.media = media;
    this.call.bus.emit({ type: 'channel.media', tenantId: this.call.tenantId, callId: this.call.id, channelId: this.id, media });
  }

  /** Marks the channel ended (the SIP side is the caller's business); false if it already was. */
  hungUp(cause: HangupCause, by: 'caller' | 'callee' | 'switch', sipStatus?: number): boolean {
    if (!this.live) return false;
    this.state = 'hungup';
    this.progress.endedAt = Date.now();
    this.progress.hangupCause = cause;
    if (sipStatus) this.progress.sipStatus = sipStatus;
    this.call.bus.emit({
      type: 'channel.hungup',
      tenantId: this.call.tenantId,
      callId: this.call.id,
      channel: this.snapshot(),
      cause,
      by,
      ...(sipStatus ? { sipStatus } : {}),
    });
    return true;
  }
}
