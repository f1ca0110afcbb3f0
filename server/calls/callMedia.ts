/**
 * One call's audio through the media engine (server/media/README.md, "How the call path uses
 * it"): every SDP offer and answer the call passes on goes through here and comes out naming the
 * relay, a leg that leaves the call while others carry on gives its ports back, and when the call
 * ends its figures go into the channels' snapshots (and so into the call record) before the ports
 * are freed. Tags are channel ids; the engine's call id is the switch's call id.
 */
import type { Logger } from 'pino';
import { PortsExhaustedError } from '../media/embedded/portPool.ts';
import { MediaRequestError, type LegStats, type MediaEngine, type MediaProfile, type MediaSnapshot } from '../media/engine.ts';
import type { Channel } from './channel.ts';
import type { LegQuality } from './events.ts';
import type { IceCandidateFilter } from './iceCandidates.ts';

type Body = { type: string; content: string };

/** How often an answered call's figures are read for the live view. */
export const QUALITY_SAMPLE_MS = 5000;

/** Only SDP goes through the relay; any other body (none, multipart, …) passes as it is. */
const isSdp = (body: Body | undefined): body is Body => body !== undefined && /^\s*application\/sdp\s*(;|$)/i.test(body.type);

/**
 * How a leg's phone carries audio, from how its SIP arrives: over TLS SRTP with the relay's keys,
 * over a WebSocket a browser's WebRTC, else plain RTP, so no key travels in clear signalling.
 */
export function profileOf(channel: Channel): MediaProfile {
  const transport = channel.peer.transport;
  if (transport === 'tls') return 'srtp-sdes';
  if (transport === 'ws' || transport === 'wss') return 'webrtc';
  return 'rtp';
}

export function qualityOf(s: LegStats): LegQuality {
  return {
    fromPhone: { packets: s.received.packets, lost: s.received.lost, jitterMs: s.received.jitterMs },
    toPhone: { packets: s.sent.packets },
    flowing: s.flowing,
  };
}

/** What a branch's INVITE cannot be placed for when the relay refuses the caller's offer. */
export function mediaFailure(err: unknown): { result: 'rejected:488' | 'unavailable'; status: number } {
  if (err instanceof MediaRequestError && !(err instanceof PortsExhaustedError)) return { result: 'rejected:488', status: 488 };
  // No ports left, or the engine does not answer: the switch cannot carry the call now.
  return { result: 'unavailable', status: 503 };
}

export class CallMedia {
  /** Tags the engine knows, each with the leg it last exchanged SDP with (ng names a leg by both). */
  private readonly peers = new Map<string, string>();
  private sampler: NodeJS.Timeout | undefined;
  /** The leg the switch answered itself (a dialplan's answer()), whose ports are the engine's too. */
  private endpointTag: string | undefined;

  constructor(
    private readonly engine: MediaEngine,
    private readonly callId: string,
    private readonly log: Logger,
    /** What a browser's SDP keeps of its ICE candidates (iceCandidates.ts); absent: all. */
    private readonly iceFilter: IceCandidateFilter = (sdp) => sdp,
  ) {}

  /** The SDP `from` sent, its ICE candidates filtered when it is a browser's. */
  private fromLeg(from: Channel, sdp: string): string {
    return profileOf(from) === 'webrtc' ? this.iceFilter(sdp) : sdp;
  }

  /** Whether audio passes through the switch at all. */
  get relayed(): boolean {
    return this.engine.kind !== 'direct';
  }

  /** `from`'s offer, to be sent on to `to`'s phone. */
  async offer(from: Channel, to: Channel, body: Body | undefined): Promise<Body | undefined> {
    if (!isSdp(body) || !this.relayed) return body;
    const sdp = await this.engine.offer({
      callId: this.callId,
      fromTag: from.id,
      toTag: to.id,
      sdp: this.fromLeg(from, body.content),
      profile: profileOf(to),
      offererProfile: profileOf(from),
    });
    // A new leg belongs to its offerer until an answer pairs it (the engine's rule too).
    if (!this.peers.has(to.id)) this.peers.set(to.id, from.id);
    if (!this.peers.has(from.id)) this.peers.set(from.id, to.id);
    return { type: body.type, content: sdp };
  }

  /** `answerer`'s answer to `offerer`'s offer, to be sent on to `offerer`'s phone. `early`: a 183. */
  async answer(offerer: Channel, answerer: Channel, body: Body | undefined, early = false): Promise<Body | undefined> {
    if (!isSdp(body) || !this.relayed) return body;
    const sdp = await this.engine.answer({
      callId: this.callId,
      fromTag: offerer.id,
      toTag: answerer.id,
      sdp: this.fromLeg(answerer, body.content),
      profile: profileOf(offerer),
      answererProfile: profileOf(answerer),
      ...(early ? { early } : {}),
    });
    this.peers.set(offerer.id, answerer.id);
    this.peers.set(answerer.id, offerer.id);
    if (!early) this.startSampling(offerer, answerer);
    return { type: body.type, content: sdp };
  }

  /**
   * The switch answered `channel` itself (a dialplan's answer(): the engine's endpoint, made by
   * server/audio/): its ports are freed and its figures recorded with the call's, and its
   * figures are read while it is up like an answered call's.
   */
  answeredBySwitch(channel: Channel): void {
    if (!this.relayed) return;
    this.endpointTag = channel.id;
    this.startSampling(channel);
  }

  /**
   * A leg left while the call carries on (a branch that lost or failed, a transferer): its final
   * figures go into its snapshot, its ports back to the engine.
   */
  async drop(channel: Channel): Promise<void> {
    const peerTag = this.peers.get(channel.id);
    if (peerTag === undefined) return;
    this.peers.delete(channel.id);
    try {
      await this.recordFigures([channel], true);
      await this.engine.delete({ callId: this.callId, leg: { tag: channel.id, peerTag } });
    } catch (err) {
      this.log.warn({ err, channelId: channel.id }, 'media relay: could not free the ports of a leg that left');
    }
  }

  /** The call ended: every leg's final figures, then every port freed. */
  async end(channels: Channel[]): Promise<void> {
    clearInterval(this.sampler);
    if (!this.peers.size && this.endpointTag === undefined) return;
    this.peers.clear();
    this.endpointTag = undefined;
    try {
      await this.recordFigures(channels, true);
      await this.engine.delete({ callId: this.callId });
    } catch (err) {
      this.log.warn({ err, channelId: channels[0]?.id }, 'media relay: could not free the ports of an ended call');
    }
  }

  /** What a restarted node needs to carry on the call's audio (persistedCall.ts); undefined when the engine has none of it. */
  persistentState(): { peers: Record<string, string>; engine: MediaSnapshot | null } | undefined {
    if (!this.peers.size) return undefined;
    return { peers: Object.fromEntries(this.peers), engine: this.engine.snapshot(this.callId) ?? null };
  }

  /**
   * The call's audio as a previous run of this node left it: the engine takes the call over (the
   * embedded relay binds the same ports again; rtpengine kept running), before SIP resumes.
   */
  async restore(state: { peers: Record<string, string>; engine: MediaSnapshot | null }, live: Channel[]): Promise<void> {
    for (const [tag, peer] of Object.entries(state.peers)) this.peers.set(tag, peer);
    if (state.engine) await this.engine.restore(this.callId, state.engine);
    const answered = live.filter((c) => c.state === 'up');
    if (answered.length >= 2) this.startSampling(...answered);
  }

  /** The engine found `channel`'s phone silent since `since` (null: audio again). */
  silent(channel: Channel, since: number | null): void {
    channel.setMedia({ quality: channel.media?.quality ?? null, silentSince: since });
  }

  /** Live calls show their figures as they go: read every few seconds while the call is answered. */
  private startSampling(...channels: Channel[]): void {
    clearInterval(this.sampler);
    this.sampler = setInterval(() => {
      if (!channels.some((c) => c.live)) return clearInterval(this.sampler);
      this.recordFigures(
        channels.filter((c) => c.live),
        false,
      ).catch(() => {
        /* the next sample asks again */
      });
    }, QUALITY_SAMPLE_MS).unref();
  }

  private async recordFigures(channels: Channel[], final: boolean): Promise<void> {
    const stats = await this.engine.stats(this.callId);
    for (const channel of channels) {
      const leg = stats?.legs.find((l) => l.tag === channel.id);
      if (!leg) continue;
      const quality = qualityOf(leg);
      if (!final && JSON.stringify(quality) === JSON.stringify(channel.media?.quality)) continue;
      channel.setMedia({ silentSince: channel.media?.silentSince ?? null, quality });
    }
  }
}
