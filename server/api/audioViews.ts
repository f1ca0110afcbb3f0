/** Prompts, tones and recordings as the API shows them (contract/audio.ts). */
import type { PromptView, RecordingView, ToneView } from '../../contract/audio.ts';
import { toneAudio, TONES, type ToneName } from '../media/tones.ts';
import type { PromptInfo } from '../store/prompts.ts';
import type { Recording } from '../store/recordings.ts';

const iso = (ms: number) => new Date(ms).toISOString();

export const promptView = (p: PromptInfo): PromptView => ({ name: p.name, durationMs: p.durationMs, bytes: p.bytes, createdAt: iso(p.createdAt), updatedAt: iso(p.updatedAt) });

export const toneView = (name: ToneName): ToneView => ({ name, description: TONES[name].description, durationMs: toneAudio(name).durationMs });

export const recordingView = (r: Recording): RecordingView => ({
  id: r.id,
  callId: r.callId,
  channelId: r.channelId,
  durationMs: r.durationMs,
  bytes: r.bytes,
  createdAt: iso(r.createdAt),
  audioUrl: `/api/v1/recordings/${r.id}/audio`,
});
