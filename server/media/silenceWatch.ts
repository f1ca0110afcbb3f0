/**
 * No-RTP detection, the same for every engine: a leg of an answered call whose phone sends no RTP
 * for `flagMs` is reported silent (one-way audio), and after `endMs` timed out (the call path ends
 * the call). A leg is watched only while its stream and its peer's are both `sendrecv`: on hold,
 * in early media, or refused, a phone owes no audio. The engine feeds it the phones' SDPs and
 * tells it, per sweep, when each leg's last packet came.
 */
import type { AnswerRequest, DeleteRequest, MediaEvent, OfferRequest, WatchedLegSnapshot } from './engine.ts';
import { audioSection, parseSdp, type Direction } from './sdp.ts';

/** Epoch ms of each leg's last packet (null: none yet); undefined when the engine lost the call. */
export type LastPackets = (callId: string) => Promise<Map<string, number | null> | undefined> | Map<string, number | null> | undefined;

export interface SilenceWatchOptions {
  /** 0 turns both off. */
  flagMs: number;
  endMs: number;
  lastPackets: LastPackets;
  emit(event: MediaEvent): void;
  /** How often to look; defaults to a quarter of the flag time, between 100 ms and 2 s. */
  sweepMs?: number;
  /** Calls looked at in parallel in one sweep (each may be a control-protocol query). */
  concurrency?: number;
  now?: () => number;
}

interface WatchedLeg {
  direction: Direction;
  peer?: string;
  /** The dialogue has a final (not early) answer. */
  answered: boolean;
  /** When watching began (or began again, after hold); undefined while not watched. */
  since?: number;
  flagged: boolean;
  timedOut: boolean;
}

export class SilenceWatch {
  private readonly calls = new Map<string, Map<string, WatchedLeg>>();
  private readonly timer: NodeJS.Timeout | undefined;
  private sweeping = false;
  private readonly now: () => number;

  constructor(private readonly opts: SilenceWatchOptions) {
    this.now = opts.now ?? Date.now;
    if (opts.flagMs > 0 || opts.endMs > 0) {
      const first = Math.min(...[opts.flagMs, opts.endMs].filter((v) => v > 0));
      const every = opts.sweepMs ?? Math.min(2000, Math.max(100, first / 4));
      this.timer = setInterval(() => void this.sweep(), every);
      this.timer.unref();
    }
  }

  offer(req: OfferRequest): void {
    this.note(req.callId, req.fromTag, req.toTag, req.sdp, undefined);
  }

  answer(req: AnswerRequest): void {
    this.note(req.callId, req.toTag, req.fromTag, req.sdp, !req.early);
  }

  delete(req: DeleteRequest): void {
    if (!req.leg) {
      this.calls.delete(req.callId);
      return;
    }
    const legs = this.calls.get(req.callId);
    legs?.delete(req.leg.tag);
    if (legs?.size === 0) this.calls.delete(req.callId);
  }

  /** The call's legs as a restart keeps them. */
  snapshot(callId: string): WatchedLegSnapshot[] {
    return [...(this.calls.get(callId) ?? [])].map(([tag, l]) => ({ tag, direction: l.direction, ...(l.peer !== undefined ? { peer: l.peer } : {}), answered: l.answered }));
  }

  /** A call a previous run watched: watched again from now (its phones get the whole time again). */
  restore(callId: string, legs: WatchedLegSnapshot[]): void {
    const restored = new Map<string, WatchedLeg>();
    for (const l of legs) restored.set(l.tag, { direction: l.direction, ...(l.peer !== undefined ? { peer: l.peer } : {}), answered: l.answered, flagged: false, timedOut: false });
    this.calls.set(callId, restored);
    for (const tag of restored.keys()) this.rearm(restored, tag);
  }

  /** `tag`'s phone sent `sdp` in a dialogue with `peer`; `answered` marks a final answer. */
  private note(callId: string, tag: string, peer: string, sdp: string, answered: boolean | undefined): void {
    let legs = this.calls.get(callId);
    if (!legs) this.calls.set(callId, (legs = new Map()));
    const audio = audioSection(parseSdp(sdp));
    const direction: Direction = audio ? audio.section.direction : 'inactive';
    const leg = legs.get(tag) ?? { direction, answered: false, flagged: false, timedOut: false };
    leg.direction = audio && audio.section.address !== '0.0.0.0' ? direction : 'inactive';
    leg.peer = peer;
    legs.set(tag, leg);
    const other = legs.get(peer);
    if (answered && other) {
      leg.answered = true;
      other.answered = true;
      other.peer = tag;
    }
    this.rearm(legs, tag);
    if (other) this.rearm(legs, peer);
  }

  private rearm(legs: Map<string, WatchedLeg>, tag: string): void {
    const leg = legs.get(tag)!;
    const peer = leg.peer ? legs.get(leg.peer) : undefined;
    const watched = leg.answered && leg.direction === 'sendrecv' && peer?.direction === 'sendrecv' && peer.peer === tag;
    if (watched && leg.since === undefined) {
      leg.since = this.now();
      leg.flagged = false;
      leg.timedOut = false;
    } else if (!watched) {
      leg.since = undefined;
    }
  }

  /** One look at every watched call; exported for tests that drive time themselves. */
  async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const ids = [...this.calls.keys()].filter((id) => [...this.calls.get(id)!.values()].some((l) => l.since !== undefined && !l.timedOut));
      const concurrency = this.opts.concurrency ?? 16;
      for (let i = 0; i < ids.length; i += concurrency) {
        await Promise.all(ids.slice(i, i + concurrency).map((id) => this.look(id)));
      }
    } finally {
      this.sweeping = false;
    }
  }

  private async look(callId: string): Promise<void> {
    let last: Map<string, number | null> | undefined;
    try {
      last = await this.opts.lastPackets(callId);
    } catch {
      return; // the engine did not answer this time; the next sweep asks again
    }
    const legs = this.calls.get(callId);
    if (!legs || !last) return;
    const now = this.now();
    for (const [tag, leg] of legs) {
      if (leg.since === undefined || leg.timedOut) continue;
      const silentMs = now - Math.max(leg.since, last.get(tag) ?? -Infinity);
      if (this.opts.endMs > 0 && silentMs >= this.opts.endMs) {
        leg.timedOut = true;
        this.opts.emit({ type: 'media.timeout', callId, tag, silentMs });
      } else if (this.opts.flagMs > 0 && silentMs >= this.opts.flagMs) {
        if (!leg.flagged) {
          leg.flagged = true;
          this.opts.emit({ type: 'media.silent', callId, tag, silentMs });
        }
      } else if (leg.flagged) {
        leg.flagged = false;
        this.opts.emit({ type: 'media.resumed', callId, tag });
      }
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.calls.clear();
  }
}
