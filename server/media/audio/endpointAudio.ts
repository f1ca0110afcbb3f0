/**
 * The audio side of a leg the switch answered itself, the same for both engines: what plays into
 * it (the embedded relay's own RTP; rtpengine plays by itself) and what is recorded from it.
 */
import { readFile } from 'node:fs/promises';
import { MediaRequestError } from '../engine.ts';
import type { EndpointCodec } from '../endpointSdp.ts';
import { convertPrompt } from '../prompts.ts';
import { RtpPlayer } from './rtpPlayer.ts';
import { rtpHeaderLength, RtpRecorder } from './rtpRecorder.ts';
import { readSwitchWav } from './wav.ts';

export class EndpointAudio {
  private player: RtpPlayer | undefined;
  private recorder: RtpRecorder | undefined;

  constructor(
    readonly codec: EndpointCodec,
    /** Sends an RTP packet to the phone; absent where the engine plays prompts itself. */
    private readonly sendToPhone?: (packet: Buffer) => void,
  ) {}

  /** Starts playing `file` (any WAV or MP3 the prompts accept) `times` times; returns one play's length. */
  async play(file: string, times: number): Promise<{ durationMs: number }> {
    if (!this.sendToPhone) throw new MediaRequestError('this leg plays prompts through its engine');
    const samples = readSwitchWav((await convertPrompt(await readFile(file))).wav);
    this.player?.stop();
    this.player = new RtpPlayer(this.sendToPhone, this.codec.codec, this.codec.payloadType, samples, Math.max(1, times));
    return { durationMs: RtpPlayer.durationMs(samples) };
  }

  stopPlay(): void {
    this.player?.stop();
    this.player = undefined;
  }

  startRecording(file: string): void {
    if (this.recorder) throw new MediaRequestError('the leg is being recorded already');
    this.recorder = new RtpRecorder(file, this.codec.codec, this.codec.payloadType);
  }

  async stopRecording(): Promise<{ durationMs: number; bytes: number }> {
    const recorder = this.recorder;
    if (!recorder) throw new MediaRequestError('the leg is not being recorded');
    this.recorder = undefined;
    return recorder.finish();
  }

  /** An RTP packet from the phone. */
  received(msg: Buffer): void {
    const recorder = this.recorder;
    if (!recorder || (msg[1]! & 0x7f) !== recorder.payloadType) return;
    const header = rtpHeaderLength(msg);
    if (header > 0) recorder.add(msg.readUInt32BE(4), msg.subarray(header));
  }

  /** The leg is gone: playing stops, a recording not stopped is dropped. */
  close(): void {
    this.stopPlay();
    this.recorder = undefined;
  }
}
