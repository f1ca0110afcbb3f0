/**
 * The embedded relay: the media engine that needs nothing installed. Each leg gets a port pair
 * from the configured range; a leg's packets go to the leg it is in a dialogue with (set by the
 * last answer between them), so of a forked call only the branch that answered last is heard, and
 * every answer gives the caller the same port. Audio and RTCP pass through; nothing is decoded,
 * except on a leg the switch answered itself (`endpoint`): prompts are encoded into it and what its
 * phone sends is decoded for a recording.
 */
import { EndpointAudio } from '../audio/endpointAudio.ts';
import type {
  AnswerRequest,
  CallMediaStats,
  DeleteRequest,
  EndpointRequest,
  MediaEngine,
  MediaEvent,
  MediaEventListener,
  MediaSnapshot,
  OfferRequest,
  PlayRequest,
  RecordingRequest,
} from '../engine.ts';
import { MediaRequestError } from '../engine.ts';
import { endpointAnswerSdp, readEndpointOffer } from '../endpointSdp.ts';
import { audioSection, parseSdp, rewriteSdp, type MediaSection } from '../sdp.ts';
import { SilenceWatch } from '../silenceWatch.ts';
import { PortPool } from './portPool.ts';
import { RelayLeg } from './relayLeg.ts';

export interface EmbeddedRelayOptions {
  /** Address the sockets bind to. */
  bindAddress: string;
  /** Address written into SDP (the switch's public address behind NAT). */
  advertisedAddress: string;
  portMin: number;
  portMax: number;
  silence: { flagMs: number; endMs: number; sweepMs?: number };
}

interface RelayCall {
  legs: Map<string, RelayLeg>;
  /** Legs whose ports are being bound, so two requests naming a new tag at once get one leg. */
  opening: Map<string, Promise<RelayLeg>>;
}

export class EmbeddedRelay implements MediaEngine {
  readonly kind = 'embedded' as const;
  private readonly calls = new Map<string, RelayCall>();
  private readonly listeners = new Set<MediaEventListener>();
  private readonly ports: PortPool;
  private readonly watch: SilenceWatch;

  constructor(private readonly opts: EmbeddedRelayOptions) {
    this.ports = new PortPool(opts.bindAddress, opts.portMin, opts.portMax);
    this.watch = new SilenceWatch({
      ...opts.silence,
      emit: (e) => this.emit(e),
      lastPackets: (callId) => {
        const call = this.calls.get(callId);
        if (!call) return undefined;
        return new Map([...call.legs].map(([tag, leg]) => [tag, leg.stats.lastPacketAt]));
      },
    });
  }

  /** Port pairs in use and in all. */
  get portUsage(): { used: number; size: number } {
    return { used: this.ports.used, size: this.ports.size };
  }

  async offer(req: OfferRequest): Promise<string> {
    const audio = requireAudio(req.sdp, 'offer');
    const from = await this.leg(req.callId, req.fromTag);
    const to = await this.leg(req.callId, req.toTag);
    from.setRemote(audio.section);
    // A new leg belongs to its offerer; an existing dialogue keeps its pairing until the answer.
    to.peer ??= from;
    this.watch.offer(req);
    return rewriteSdp(req.sdp, audio.index, this.opts.advertisedAddress, to.port);
  }

  async answer(req: AnswerRequest): Promise<string> {
    const audio = requireAudio(req.sdp, 'answer');
    const call = this.calls.get(req.callId);
    const from = call?.legs.get(req.fromTag);
    const to = call?.legs.get(req.toTag);
    if (!from || !to) throw new MediaRequestError(`answer from ${req.toTag} to an offer from ${req.fromTag} the relay never saw (call ${req.callId})`);
    to.setRemote(audio.section);
    from.peer = to;
    to.peer = from;
    this.watch.answer(req);
    return rewriteSdp(req.sdp, audio.index, this.opts.advertisedAddress, from.port);
  }

  async delete(req: DeleteRequest): Promise<void> {
    const call = this.calls.get(req.callId);
    if (!call) return;
    const tags = req.leg ? [req.leg.tag] : [...new Set([...call.legs.keys(), ...call.opening.keys()])];
    for (const tag of tags) {
      // A leg still binding its ports is closed once it has them.
      const leg = call.legs.get(tag) ?? (await call.opening.get(tag)?.catch(() => undefined));
      if (!leg) continue;
      call.legs.delete(tag);
      for (const other of call.legs.values()) if (other.peer === leg) other.peer = undefined;
      this.ports.give(leg.close());
    }
    if (call.legs.size === 0 && call.opening.size === 0) this.calls.delete(req.callId);
    this.watch.delete(req);
  }

  async stats(callId: string): Promise<CallMediaStats | undefined> {
    const call = this.calls.get(callId);
    if (!call) return undefined;
    return { callId, legs: [...call.legs.values()].map((l) => l.snapshot()) };
  }

  snapshot(callId: string): MediaSnapshot | undefined {
    const call = this.calls.get(callId);
    if (!call) return undefined;
    return { watch: this.watch.snapshot(callId), legs: [...call.legs.values()].map((l) => ({ ...l.state(), ...(l.peer ? { peer: l.peer.tag } : {}) })) };
  }

  /** The same ports bound again, the same pairing and latched phones: audio carries on where it stopped. */
  async restore(callId: string, snapshot: MediaSnapshot): Promise<void> {
    const legs = new Map<string, RelayLeg>();
    try {
      for (const s of snapshot.legs ?? []) {
        const leg = new RelayLeg(callId, s.tag, await this.ports.takeExact(s.port), (e) => this.emit(e));
        leg.restoreState(s);
        legs.set(s.tag, leg);
      }
    } catch (err) {
      for (const leg of legs.values()) this.ports.give(leg.close());
      throw err;
    }
    for (const s of snapshot.legs ?? []) if (s.peer) legs.get(s.tag)!.peer = legs.get(s.peer);
    this.calls.set(callId, { legs, opening: new Map() });
    this.watch.restore(callId, snapshot.watch);
  }

  async ping(): Promise<void> {}

  subscribe(listener: MediaEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async endpoint(req: EndpointRequest): Promise<string> {
    const offer = readEndpointOffer(req.sdp);
    const leg = await this.leg(req.callId, req.tag);
    leg.setRemote(offer.section);
    leg.endpoint?.close();
    leg.endpoint = new EndpointAudio(offer.codec, (packet) => leg.sendToPhone(packet));
    return endpointAnswerSdp({
      address: this.opts.advertisedAddress,
      port: leg.port,
      codec: offer.codec,
      sections: offer.sections,
      audioIndex: offer.index,
      sessionId: Date.now(),
    });
  }

  async play(req: PlayRequest): Promise<{ durationMs: number }> {
    return this.endpointOf(req.callId, req.tag).play(req.file, req.repeat ?? 1);
  }

  async stopPlay(req: { callId: string; tag: string }): Promise<void> {
    this.calls.get(req.callId)?.legs.get(req.tag)?.endpoint?.stopPlay();
  }

  async startRecording(req: RecordingRequest): Promise<void> {
    this.endpointOf(req.callId, req.tag).startRecording(req.file);
  }

  async stopRecording(req: { callId: string; tag: string }): Promise<{ durationMs: number; bytes: number }> {
    return this.endpointOf(req.callId, req.tag).stopRecording();
  }

  private endpointOf(callId: string, tag: string): EndpointAudio {
    const leg = this.calls.get(callId)?.legs.get(tag);
    if (!leg) throw new MediaRequestError(`no leg ${tag} in call ${callId}`);
    if (!leg.endpoint) throw new MediaRequestError(`leg ${tag} is relayed, not answered by the switch: prompts and recordings need an answered leg`);
    return leg.endpoint;
  }

  async close(): Promise<void> {
    this.watch.close();
    for (const callId of [...this.calls.keys()]) await this.delete({ callId });
    this.listeners.clear();
  }

  private emit(event: MediaEvent): void {
    for (const l of this.listeners) l(event);
  }

  private async leg(callId: string, tag: string): Promise<RelayLeg> {
    let call = this.calls.get(callId);
    if (!call) this.calls.set(callId, (call = { legs: new Map(), opening: new Map() }));
    const existing = call.legs.get(tag) ?? call.opening.get(tag);
    if (existing) return existing;
    const opening = this.ports.take().then((pair) => {
      const leg = new RelayLeg(callId, tag, pair, (e) => this.emit(e));
      call.legs.set(tag, leg);
      return leg;
    });
    call.opening.set(tag, opening);
    try {
      return await opening;
    } finally {
      call.opening.delete(tag);
      if (call.legs.size === 0 && call.opening.size === 0) this.calls.delete(callId);
    }
  }
}

function requireAudio(sdp: string, what: string): { index: number; section: MediaSection } {
  const audio = audioSection(parseSdp(sdp));
  if (!audio) throw new MediaRequestError(`the ${what} has no audio stream to relay`);
  return audio;
}
