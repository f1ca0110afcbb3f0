/**
 * Direct media (`MEDIA_ENGINE=direct`): SDP passes untouched and phones send audio to each other.
 * Only right where they reach each other's addresses (one LAN, no NAT between them); the switch
 * then sees no audio, so there are no statistics, no no-RTP detection and no audio verbs.
 */
import type { CallMediaStats, EndpointRequest, MediaEngine, MediaEventListener, PlayRequest, RecordingRequest } from './engine.ts';
import { MediaNotSupportedError } from './engine.ts';

export class DirectMedia implements MediaEngine {
  readonly kind = 'direct' as const;

  async offer(req: { sdp: string }): Promise<string> {
    return req.sdp;
  }

  async answer(req: { sdp: string }): Promise<string> {
    return req.sdp;
  }

  async delete(): Promise<void> {}

  async stats(): Promise<CallMediaStats | undefined> {
    return undefined;
  }

  snapshot(): undefined {
    return undefined;
  }

  async restore(): Promise<void> {}

  async ping(): Promise<void> {}

  subscribe(_listener: MediaEventListener): () => void {
    return () => {};
  }

  async endpoint(_req: EndpointRequest): Promise<never> {
    throw new MediaNotSupportedError('direct', 'answer calls itself (audio does not pass through the switch)');
  }

  async play(_req: PlayRequest): Promise<never> {
    throw new MediaNotSupportedError('direct', 'play prompts (audio does not pass through the switch)');
  }

  async stopPlay(_req: { callId: string; tag: string }): Promise<never> {
    throw new MediaNotSupportedError('direct', 'play prompts (audio does not pass through the switch)');
  }

  async startRecording(_req: RecordingRequest): Promise<never> {
    throw new MediaNotSupportedError('direct', 'record calls (audio does not pass through the switch)');
  }

  async stopRecording(_req: { callId: string; tag: string }): Promise<never> {
    throw new MediaNotSupportedError('direct', 'record calls (audio does not pass through the switch)');
  }

  async close(): Promise<void> {}
}
