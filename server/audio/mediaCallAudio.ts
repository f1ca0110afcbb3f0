/**
 * The audio verbs of one real call (CallAudio) over a media engine, for the call path to hand to
 * the dialplan runner. It knows nothing of SIP: the call path gives it the caller's offer and two
 * functions, one sending the 200 OK with the switch's SDP and one sending the BYE, and tells it
 * when the caller has hung up. Prompts and tones are written to files the engine reads (named by
 * their content, so a replaced prompt is a new file); recordings go to the tenant's directory and
 * a row of the store.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AudioError, type CallAudio, type RecordingInfo, type Sound } from '../dialplan/callAudio.ts';
import type { MediaEngine, MediaProfile } from '../media/engine.ts';
import { isToneName, toneAudio } from '../media/tones.ts';
import type { RecordingStore } from '../recordings/recordingStore.ts';
import { newId } from '../store/ids.ts';
import type { TenantPrompts } from '../store/prompts.ts';
import type { TenantRecordings } from '../store/recordings.ts';

export interface MediaCallAudioOptions {
  engine: MediaEngine;
  /** The switch's call id and the id of the channel the dialplan answers (its media tag). */
  callId: string;
  channelId: string;
  tenantId: string;
  /** The caller's SDP offer, from its INVITE. */
  offer: string;
  /** How the caller's leg carries audio (a browser needs its ICE candidates in our answer). */
  profile?: MediaProfile;
  /** Sends the 200 OK with this SDP (the call path's). */
  sendAnswer(sdp: string): Promise<void>;
  /** Ends the answered call, a BYE (the call path's). */
  sendBye(): Promise<void>;
  prompts: Pick<TenantPrompts, 'audio'>;
  recordings: Pick<TenantRecordings, 'add' | 'totalBytes'>;
  files: RecordingStore;
  /** Where prompts and tones are written for the engine to read (DATA_DIR/audio-cache). */
  cacheDir: string;
  /** A tenant whose recordings take this much cannot start another. */
  recordingBytesPerTenant: number;
}

/**
 * Digits a caller may press ahead of the script's next collect(): more is noise, and a caller
 * (or a peer sending INFOs in a loop) must not grow the call's memory without end.
 */
export const MAX_PENDING_DIGITS = 64;

/** Why a wait ended. */
type Woken = 'time' | 'signal' | 'caller-gone' | 'early';

export class MediaCallAudio implements CallAudio {
  /** Digits pressed and not collected yet. */
  private digits = '';
  private readonly wakers = new Set<() => void>();
  private readonly unsubscribe: () => void;
  private callerGone = false;
  private recording: Promise<unknown> | undefined;

  constructor(private readonly o: MediaCallAudioOptions) {
    this.unsubscribe = o.engine.subscribe((e) => {
      if (e.type !== 'media.dtmf' || e.callId !== o.callId || e.tag !== o.channelId) return;
      this.dtmf(e.digit);
    });
  }

  /**
   * A digit the caller pressed that reached the switch some other way than as RTP (SIP INFO): it
   * counts exactly as one from `media.dtmf` does.
   */
  dtmf(digit: string): void {
    if (this.digits.length >= MAX_PENDING_DIGITS) return;
    this.digits += digit;
    this.wake();
  }

  async answer(): Promise<void> {
    const sdp = await this.o.engine.endpoint({ callId: this.o.callId, tag: this.o.channelId, sdp: this.o.offer, ...(this.o.profile ? { profile: this.o.profile } : {}) });
    await this.o.sendAnswer(sdp);
  }

  async play(sound: Sound, opts: { repeat: number; signal: AbortSignal }): Promise<void> {
    this.refuseWhenGone('play');
    await this.playFor(sound, opts.repeat, opts.signal);
  }

  async collect(opts: { digits: number; timeoutMs: number; prompt?: Sound; signal: AbortSignal }): Promise<string> {
    this.refuseWhenGone('collect');
    if (opts.prompt && this.digits === '') await this.playFor(opts.prompt, 1, opts.signal, () => this.digits !== '');
    while (this.digits.length < opts.digits) {
      const had = this.digits.length;
      const woken = await this.wait(opts.timeoutMs, opts.signal, () => this.digits.length > had);
      if (woken !== 'early') break;
    }
    const taken = this.digits.slice(0, opts.digits);
    this.digits = this.digits.slice(taken.length);
    return taken;
  }

  async record(opts: { maxSeconds: number; beep: boolean; signal: AbortSignal }): Promise<RecordingInfo> {
    this.refuseWhenGone('record');
    const used = await this.o.recordings.totalBytes();
    if (used >= this.o.recordingBytesPerTenant) {
      const mb = (n: number) => Math.round(n / (1024 * 1024));
      throw new AudioError(`record: your recordings use ${mb(used)} MB of the ${mb(this.o.recordingBytesPerTenant)} MB you may keep; delete some first`);
    }
    if (opts.beep) await this.playFor({ tone: 'beep' }, 1, opts.signal);
    const id = newId();
    const place = this.o.files.place(this.o.tenantId, id);
    const media = { callId: this.o.callId, tag: this.o.channelId };
    await this.o.engine.startRecording({ ...media, file: place.absolute });
    const from = this.digits.length;
    const done = (async () => {
      await this.wait(opts.maxSeconds * 1000, opts.signal, () => this.digits.includes('#', from));
      // The '#' that ended it is not a digit for a later collect.
      this.digits = this.digits.slice(0, from);
      const made = await this.o.engine.stopRecording(media);
      await this.o.files.keep(place.relative);
      await this.o.recordings.add({
        id,
        callId: this.o.callId,
        channelId: this.o.channelId,
        file: place.relative,
        durationMs: made.durationMs,
        bytes: made.bytes,
        createdAt: Date.now(),
      });
      return { id, durationMs: made.durationMs };
    })();
    this.recording = done.catch(() => {});
    try {
      return await done;
    } finally {
      this.recording = undefined;
    }
  }

  async hangup(): Promise<void> {
    await this.o.engine.stopPlay({ callId: this.o.callId, tag: this.o.channelId }).catch(() => {});
    await this.o.sendBye();
  }

  /**
   * The caller hung up (the call path got its BYE): whatever waits stops; a recording in progress
   * is stored, and this resolves once it is, so the call path deletes the media after.
   */
  async callerHungUp(): Promise<void> {
    this.callerGone = true;
    this.wake();
    await this.recording;
  }

  /** Stops listening for digits; the call path calls it when the call is over. */
  close(): void {
    this.unsubscribe();
    this.callerGone = true;
    this.wake();
  }

  /**
   * Once the caller has hung up, a verb started after it has nobody to play to or record: the
   * script is told so (and usually ends there) instead of each verb returning at once as if done.
   */
  private refuseWhenGone(verb: string): void {
    if (this.callerGone) throw new AudioError(`${verb}: the caller hung up`);
  }

  /** Plays `sound` until it ends (or `stopEarly` holds, or the wait is cut short); stops it then. */
  private async playFor(sound: Sound, repeat: number, signal: AbortSignal, stopEarly?: () => boolean): Promise<void> {
    const audio = await this.fileOf(sound);
    const media = { callId: this.o.callId, tag: this.o.channelId };
    const played = await this.o.engine.play({ ...media, file: audio.file, repeat });
    const woken = await this.wait((played.durationMs ?? audio.durationMs) * repeat, signal, stopEarly);
    if (woken !== 'time') await this.o.engine.stopPlay(media).catch(() => {});
  }

  private wait(ms: number, signal: AbortSignal, early: () => boolean = () => false): Promise<Woken> {
    return new Promise((resolve) => {
      const check = (): Woken | undefined => (this.callerGone ? 'caller-gone' : signal.aborted ? 'signal' : early() ? 'early' : undefined);
      const now = check();
      if (now) return resolve(now);
      const finish = (why: Woken) => {
        clearTimeout(timer);
        this.wakers.delete(waker);
        signal.removeEventListener('abort', waker);
        resolve(why);
      };
      const waker = () => {
        const why = check();
        if (why) finish(why);
      };
      const timer = setTimeout(() => finish('time'), ms);
      this.wakers.add(waker);
      signal.addEventListener('abort', waker);
    });
  }

  private wake(): void {
    for (const w of [...this.wakers]) w();
  }

  /** The sound as a file the engine reads, and its length. */
  private async fileOf(sound: Sound): Promise<{ file: string; durationMs: number }> {
    let wav: Buffer;
    if ('tone' in sound) {
      if (!isToneName(sound.tone)) throw new AudioError(`play: there is no tone named ${sound.tone}`);
      wav = toneAudio(sound.tone).wav;
    } else {
      const stored = await this.o.prompts.audio(sound.prompt);
      if (!stored) throw new AudioError(`play: there is no prompt named ${sound.prompt}`);
      wav = stored;
    }
    const file = path.join(this.o.cacheDir, `${createHash('sha256').update(wav).digest('hex')}.wav`);
    if (!existsSync(file)) {
      await mkdir(this.o.cacheDir, { recursive: true });
      const partial = `${file}.${newId()}.part`;
      await writeFile(partial, wav);
      await rename(partial, file);
    }
    // 8 kHz 16-bit mono: 16 bytes a millisecond after the 44-byte header.
    return { file, durationMs: Math.round((wav.length - 44) / 16) };
  }
}
