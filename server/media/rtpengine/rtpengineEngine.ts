/**
 * The media engine backed by rtpengine, driven over its ng protocol. The interface's requests map
 * one to one onto ng commands (call-id, from-tag, to-tag); what is ours is the set of flags every
 * offer and answer carries and reading `query` replies into per-leg statistics.
 */
import dgram from 'node:dgram';
import { EndpointAudio } from '../audio/endpointAudio.ts';
import type {
  AnswerRequest,
  CallMediaStats,
  DeleteRequest,
  EndpointRequest,
  LegStats,
  MediaEngine,
  MediaEvent,
  MediaEventListener,
  MediaSnapshot,
  OfferRequest,
  PlayRequest,
  RecordingRequest,
} from '../engine.ts';
import { MediaRequestError, type MediaProfile } from '../engine.ts';
import { endpointAnswerSdp, readEndpointOffer } from '../endpointSdp.ts';
import { SilenceWatch } from '../silenceWatch.ts';
import { NgClient, NgCommandError, type NgDict } from './ngClient.ts';

/**
 * Every offer and answer: rewrite the origin and session addresses too; latch on the first packet
 * (immediate learning) — as the embedded relay does; keep our ports when a phone's port changes,
 * so the caller keeps one address through a fork's answers (port latching); no ICE towards plain
 * SIP phones. Strict source is added per command (`sourceFlags`).
 */
const SDP_OPTIONS: NgDict = {
  replace: ['origin', 'session-connection'],
  flags: ['port-latching'],
  'endpoint-learning': 'immediate',
  ICE: 'remove',
};

/**
 * Strict source (drop packets from anyone but the latched source) for the stream of the leg whose
 * SDP a command carries: rtpengine sets it from the flags of the command that carries that leg's
 * SDP — the offer for the offerer's stream, the answer for the answerer's — whatever the profile
 * options say about the other side. Not for a browser: ICE decides its address, and the browser,
 * as the controlling agent of its own offer, may nominate a pair rtpengine does not use (Chromium
 * nominated a peer-reflexive pair from another interface of its own after five packets, while
 * rtpengine kept sending to the loopback pair it had completed first); with strict source every
 * packet of the browser from then on was dropped (counted as errors), and its phone heard
 * nothing. Its packets are authenticated by SRTP instead.
 */
function sourceFlags(sender: MediaProfile | undefined): string[] {
  return sender === 'webrtc' ? [] : ['strict-source'];
}

/**
 * The SDES suites offered to an SRTP leg: the two every SDES phone has (RFC 4568's AES-CM with
 * HMAC-SHA1), and no others. rtpengine 10.5 offers twelve, the GCM ones first; baresip 1.0 took one
 * of those and could not decrypt what rtpengine sent it (measured: every packet failed its check).
 */
const SDES_OFFERED = ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32'];
const SDES_KNOWN = [
  'AEAD_AES_256_GCM',
  'AEAD_AES_128_GCM',
  'AES_256_CM_HMAC_SHA1_80',
  'AES_256_CM_HMAC_SHA1_32',
  'AES_192_CM_HMAC_SHA1_80',
  'AES_192_CM_HMAC_SHA1_32',
  ...SDES_OFFERED,
  'F8_128_HMAC_SHA1_80',
  'F8_128_HMAC_SHA1_32',
  'NULL_HMAC_SHA1_80',
  'NULL_HMAC_SHA1_32',
];

/**
 * What each profile asks of rtpengine for the SDP a leg is sent. Plain and SDES legs are SIP
 * phones: no ICE, RTCP on its own port. A browser: ICE (rtpengine's candidates on its interface),
 * DTLS-SRTP and RTCP multiplexed on the RTP port, as WebRTC requires.
 */
const PROFILES: Record<MediaProfile, NgDict> = {
  rtp: { 'transport-protocol': 'RTP/AVP', ICE: 'remove', 'rtcp-mux': ['demux'], DTLS: 'off', SDES: ['off'] },
  'srtp-sdes': {
    'transport-protocol': 'RTP/SAVP',
    ICE: 'remove',
    'rtcp-mux': ['demux'],
    SDES: SDES_KNOWN.filter((s) => !SDES_OFFERED.includes(s)).map((s) => `no-${s}`),
    DTLS: 'off',
  },
  webrtc: { 'transport-protocol': 'UDP/TLS/RTP/SAVPF', ICE: 'force', 'rtcp-mux': ['offer', 'require'], SDES: ['off'], flags: ['generate-mid'] },
};

/**
 * The ng arguments for an offer going to a leg of `profile` (none named: the offerer's profile
 * kept), made by a leg of `offerer`'s profile.
 */
function offerOptions(profile: MediaProfile | undefined, offerer: MediaProfile | undefined): NgDict {
  const p: NgDict = profile ? PROFILES[profile] : {};
  return { ...SDP_OPTIONS, ...p, flags: [...(SDP_OPTIONS.flags as string[]), ...sourceFlags(offerer), ...((p.flags as string[] | undefined) ?? [])] };
}

/**
 * The ng arguments for an answer, made by a leg of `answerer`'s profile, going back to an offerer
 * of `profile`. A phone's profile is the one it offered (rtpengine answers in kind: a phone over
 * TLS may have offered plain RTP). A browser's is named again.
 */
function answerOptions(profile: MediaProfile | undefined, answerer: MediaProfile | undefined): NgDict {
  const p: NgDict = profile === 'webrtc' ? { 'transport-protocol': 'UDP/TLS/RTP/SAVPF', ICE: 'force' } : {};
  return { ...SDP_OPTIONS, ...p, flags: [...(SDP_OPTIONS.flags as string[]), ...sourceFlags(answerer)] };
}

export interface RtpengineEngineOptions {
  client: NgClient;
  silence: { flagMs: number; endMs: number; sweepMs?: number };
  /**
   * Where the switch's side of a leg it answers itself listens (see \`endpoint\`): an address
   * rtpengine can send to (MEDIA_HOST; with an rtpengine elsewhere, one it reaches).
   */
  localAddress: string;
  /** Called by close(): stops what the engine depends on (the daemon the switch started, the DTMF socket); `keepCalls`: leave the daemon running. */
  onClose?: (opts: { keepCalls?: boolean }) => Promise<void>;
}

type Dict = Record<string, unknown>;
const dict = (v: unknown): Dict => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Dict) : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const num = (v: unknown): number => (typeof v === 'number' ? v : 0);

/**
 * A leg the switch answers itself. rtpengine has no such thing as a leg ending in itself, so the
 * switch is the other party of an ordinary offer/answer: the phone's offer goes to a tag of the
 * switch's (\`<tag>.switch\`), answered with an SDP naming a UDP socket of the switch (the sink).
 * Prompts play with rtpengine's own \`play media\` into the phone's tag; what the phone sends
 * arrives at the sink, where it is recorded; its digits come from the DTMF log like any leg's.
 */
interface SwitchSide {
  sink: dgram.Socket;
  audio: EndpointAudio;
}

const switchTag = (tag: string) => `${tag}.switch`;

export class RtpengineEngine implements MediaEngine {
  readonly kind = 'rtpengine' as const;
  /** Legs the switch answered, by call id, then tag. */
  private readonly endpoints = new Map<string, Map<string, SwitchSide>>();
  private readonly listeners = new Set<MediaEventListener>();
  private readonly watch: SilenceWatch;
  private readonly client: NgClient;

  constructor(private readonly opts: RtpengineEngineOptions) {
    this.client = opts.client;
    this.watch = new SilenceWatch({
      ...opts.silence,
      emit: (e) => this.emit(e),
      lastPackets: async (callId) => {
        const s = await this.stats(callId);
        return s && new Map(s.legs.map((l) => [l.tag, l.received.lastPacketAt]));
      },
    });
  }

  /** Hands an event that arrived from outside the ng channel (DTMF) to the subscribers. */
  emit(event: MediaEvent): void {
    for (const l of this.listeners) l(event);
  }

  async offer(req: OfferRequest): Promise<string> {
    const reply = await this.sdpCommand(
      'offer',
      { 'call-id': req.callId, 'from-tag': req.fromTag, 'to-tag': req.toTag, sdp: req.sdp },
      offerOptions(req.profile, req.offererProfile),
    );
    this.watch.offer(req);
    return reply;
  }

  async answer(req: AnswerRequest): Promise<string> {
    const reply = await this.sdpCommand(
      'answer',
      { 'call-id': req.callId, 'from-tag': req.fromTag, 'to-tag': req.toTag, sdp: req.sdp },
      answerOptions(req.profile, req.answererProfile),
    );
    this.watch.answer(req);
    return reply;
  }

  private async sdpCommand(command: 'offer' | 'answer', args: NgDict, options: NgDict): Promise<string> {
    let reply: NgDict;
    try {
      reply = await this.client.request(command, { ...args, ...options });
    } catch (err) {
      if (err instanceof NgCommandError) throw new MediaRequestError(err.message);
      throw err;
    }
    if (typeof reply.sdp !== 'string') throw new MediaRequestError(`rtpengine's ${command} reply has no SDP`);
    return reply.sdp;
  }

  async delete(req: DeleteRequest): Promise<void> {
    this.closeEndpoints(req.callId, req.leg?.tag);
    // ng names a branch by the dialogue's two tags.
    const args: NgDict = { 'call-id': req.callId, 'delete delay': 0, ...(req.leg ? { 'from-tag': req.leg.peerTag, 'to-tag': req.leg.tag } : {}) };
    this.watch.delete(req);
    try {
      await this.client.request('delete', args);
    } catch (err) {
      if (!(err instanceof NgCommandError)) throw err; // unknown call: gone already
    }
  }

  async stats(callId: string): Promise<CallMediaStats | undefined> {
    let reply: NgDict;
    try {
      reply = await this.client.request('query', { 'call-id': callId });
    } catch (err) {
      if (err instanceof NgCommandError) return undefined;
      throw err;
    }
    return { callId, legs: legStats(reply) };
  }

  /** rtpengine keeps the call itself (it runs on across a restart of the switch): only the watch is ours. */
  snapshot(callId: string): MediaSnapshot | undefined {
    const watch = this.watch.snapshot(callId);
    return watch.length ? { watch } : undefined;
  }

  async restore(callId: string, snapshot: MediaSnapshot): Promise<void> {
    this.watch.restore(callId, snapshot.watch);
  }

  async ping(): Promise<void> {
    const reply = await this.client.request('ping');
    if (reply.result !== 'pong') throw new Error(`rtpengine answered ping with ${String(reply.result)}`);
  }

  subscribe(listener: MediaEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async endpoint(req: EndpointRequest): Promise<string> {
    const callId = req.callId;
    // The switch's own side hears plain RTP; an SRTP caller gets rtpengine's keys in the answer.
    const toSwitch = await this.sdpCommand('offer', { 'call-id': callId, 'from-tag': req.tag, 'to-tag': switchTag(req.tag), sdp: req.sdp }, offerOptions('rtp', req.profile));
    const offer = readEndpointOffer(toSwitch);
    this.closeEndpoints(callId, req.tag);
    const sink = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      sink.once('error', reject);
      sink.bind(0, this.opts.localAddress, () => {
        sink.off('error', reject);
        resolve();
      });
    });
    sink.on('error', () => {});
    const audio = new EndpointAudio(offer.codec);
    sink.on('message', (msg) => audio.received(msg));
    let legs = this.endpoints.get(callId);
    if (!legs) this.endpoints.set(callId, (legs = new Map()));
    legs.set(req.tag, { sink, audio });
    const ours = endpointAnswerSdp({
      address: this.opts.localAddress,
      port: sink.address().port,
      codec: offer.codec,
      sections: offer.sections,
      audioIndex: offer.index,
      sessionId: Date.now(),
    });
    try {
      return await this.sdpCommand('answer', { 'call-id': callId, 'from-tag': req.tag, 'to-tag': switchTag(req.tag), sdp: ours }, answerOptions(req.profile, 'rtp'));
    } catch (err) {
      this.closeEndpoints(callId, req.tag);
      throw err;
    }
  }

  async play(req: PlayRequest): Promise<{ durationMs: number | null }> {
    const reply = await this.client.request('play media', { 'call-id': req.callId, 'from-tag': req.tag, file: req.file, ...(req.repeat ? { 'repeat-times': req.repeat } : {}) });
    return { durationMs: typeof reply.duration === 'number' ? reply.duration : null };
  }

  async stopPlay(req: { callId: string; tag: string }): Promise<void> {
    try {
      await this.client.request('stop media', { 'call-id': req.callId, 'from-tag': req.tag });
    } catch (err) {
      if (!(err instanceof NgCommandError)) throw err; // nothing playing: stopped already
    }
  }

  async startRecording(req: RecordingRequest): Promise<void> {
    this.switchSide(req.callId, req.tag).audio.startRecording(req.file);
  }

  async stopRecording(req: { callId: string; tag: string }): Promise<{ durationMs: number; bytes: number }> {
    return this.switchSide(req.callId, req.tag).audio.stopRecording();
  }

  private switchSide(callId: string, tag: string): SwitchSide {
    const side = this.endpoints.get(callId)?.get(tag);
    if (!side) throw new MediaRequestError(`leg ${tag} of call ${callId} was not answered by the switch: recordings need an answered leg`);
    return side;
  }

  private closeEndpoints(callId: string, tag?: string): void {
    const legs = this.endpoints.get(callId);
    if (!legs) return;
    for (const [t, side] of legs) {
      if (tag !== undefined && t !== tag) continue;
      side.audio.close();
      side.sink.close();
      legs.delete(t);
    }
    if (legs.size === 0) this.endpoints.delete(callId);
  }

  async close(opts: { keepCalls?: boolean } = {}): Promise<void> {
    for (const callId of [...this.endpoints.keys()]) this.closeEndpoints(callId);
    this.watch.close();
    this.listeners.clear();
    this.client.close();
    await this.opts.onClose?.(opts);
  }
}

/**
 * Per-leg figures from a `query` reply. Each tag's first RTP stream counts what arrived from that
 * leg's phone; what was sent to a leg is what arrived from the legs it receives from (its
 * subscriptions). rtpengine 10.5 reports no loss or jitter there (only RTCP-derived MOS per SSRC,
 * not tied to a leg), so those are null. `last packet` is in whole seconds: read as the end of its
 * second, so a leg is never taken for silent early.
 */
export function legStats(reply: NgDict): LegStats[] {
  const tags = dict(reply.tags);
  const received = new Map<string, { packets: number; bytes: number; last: number; source: string | null }>();
  for (const [tag, value] of Object.entries(tags)) {
    if (tag === '') continue;
    const media = list(dict(value).medias)
      .map(dict)
      .find((m) => m.type === 'audio');
    const rtp = list(media?.streams)
      .map(dict)
      .find((s) => list(s.flags).includes('RTP'));
    const stats = dict(rtp?.stats);
    const packets = num(stats.packets);
    const endpoint = dict(rtp?.endpoint);
    received.set(tag, {
      packets,
      bytes: num(stats.bytes),
      last: num(rtp?.['last packet']),
      source: packets > 0 && typeof endpoint.address === 'string' ? `${endpoint.address}:${num(endpoint.port)}` : null,
    });
  }
  return [...received].map(([tag, r]) => {
    const feeds = list(dict(tags[tag]).subscriptions)
      .map((s) => dict(s).tag)
      .filter((t): t is string => typeof t === 'string');
    const sent = feeds.reduce((acc, t) => ({ packets: acc.packets + (received.get(t)?.packets ?? 0), bytes: acc.bytes + (received.get(t)?.bytes ?? 0) }), { packets: 0, bytes: 0 });
    return {
      tag,
      received: { packets: r.packets, bytes: r.bytes, lost: null, jitterMs: null, lastPacketAt: r.packets > 0 ? r.last * 1000 + 999 : null },
      sent,
      source: r.source,
      flowing: { fromPhone: r.packets > 0, toPhone: sent.packets > 0 },
    };
  });
}
