/**
 * The media engine backed by rtpengine, driven over its ng protocol. The interface's requests map
 * one to one onto ng commands (call-id, from-tag, to-tag); what is ours is the set of flags every
 * offer and answer carries and reading `query` replies into per-leg statistics.
 */
import type { AnswerRequest, CallMediaStats, DeleteRequest, LegStats, MediaEngine, MediaEvent, MediaEventListener, MediaSnapshot, OfferRequest, PlayRequest } from '../engine.ts';
import { MediaNotSupportedError, MediaRequestError } from '../engine.ts';
import { SilenceWatch } from '../silenceWatch.ts';
import { NgClient, NgCommandError, type NgDict } from './ngClient.ts';

/**
 * Every offer and answer: rewrite the origin and session addresses too; drop packets from anyone
 * but the latched source (strict source) and latch on the first packet (immediate learning) — as
 * the embedded relay does; keep our ports when a phone's port changes, so the caller keeps one
 * address through a fork's answers (port latching); no ICE towards plain SIP phones.
 */
const SDP_OPTIONS: NgDict = {
  replace: ['origin', 'session-connection'],
  flags: ['strict-source', 'port-latching'],
  'endpoint-learning': 'immediate',
  ICE: 'remove',
};

export interface RtpengineEngineOptions {
  client: NgClient;
  silence: { flagMs: number; endMs: number; sweepMs?: number };
  /** Called by close(): stops what the engine depends on (the daemon the switch started, the DTMF socket); `keepCalls`: leave the daemon running. */
  onClose?: (opts: { keepCalls?: boolean }) => Promise<void>;
}

type Dict = Record<string, unknown>;
const dict = (v: unknown): Dict => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Dict) : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const num = (v: unknown): number => (typeof v === 'number' ? v : 0);

export class RtpengineEngine implements MediaEngine {
  readonly kind = 'rtpengine' as const;
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
    const reply = await this.sdpCommand('offer', { 'call-id': req.callId, 'from-tag': req.fromTag, 'to-tag': req.toTag, sdp: req.sdp });
    this.watch.offer(req);
    return reply;
  }

  async answer(req: AnswerRequest): Promise<string> {
    const reply = await this.sdpCommand('answer', { 'call-id': req.callId, 'from-tag': req.fromTag, 'to-tag': req.toTag, sdp: req.sdp });
    this.watch.answer(req);
    return reply;
  }

  private async sdpCommand(command: 'offer' | 'answer', args: NgDict): Promise<string> {
    let reply: NgDict;
    try {
      reply = await this.client.request(command, { ...args, ...SDP_OPTIONS });
    } catch (err) {
      if (err instanceof NgCommandError) throw new MediaRequestError(err.message);
      throw err;
    }
    if (typeof reply.sdp !== 'string') throw new MediaRequestError(`rtpengine's ${command} reply has no SDP`);
    return reply.sdp;
  }

  async delete(req: DeleteRequest): Promise<void> {
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

  async play(req: PlayRequest): Promise<{ durationMs: number | null }> {
    const reply = await this.client.request('play media', { 'call-id': req.callId, 'from-tag': req.tag, file: req.file, ...(req.repeat ? { 'repeat-times': req.repeat } : {}) });
    return { durationMs: typeof reply.duration === 'number' ? reply.duration : null };
  }

  async stopPlay(req: { callId: string; tag: string }): Promise<void> {
    await this.client.request('stop media', { 'call-id': req.callId, 'from-tag': req.tag });
  }

  async startRecording(_req: { callId: string; file: string }): Promise<never> {
    throw new MediaNotSupportedError('rtpengine', 'record calls (not wired yet: needs a recording directory and method)');
  }

  async stopRecording(_req: { callId: string }): Promise<never> {
    throw new MediaNotSupportedError('rtpengine', 'record calls (not wired yet: needs a recording directory and method)');
  }

  async close(opts: { keepCalls?: boolean } = {}): Promise<void> {
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
