/**
 * Dialplan audio as the API returns it: prompts a tenant uploaded (`/prompts`), the built-in tones
 * (`/tones`), and recordings (`/recordings`, and with their call record). Times are ISO 8601.
 */

/** The built-in tones a dialplan plays by name (`play('busy')`). */
export const TONE_NAMES = ['ringback', 'busy', 'beep'] as const;
export type ToneName = (typeof TONE_NAMES)[number];
export const isToneName = (name: string): name is ToneName => (TONE_NAMES as readonly string[]).includes(name);

/** A prompt's name, as uploaded and as `play('…')` names it: 1–64 letters, digits, `.`, `-`, `_`, not a tone's name. */
export const PROMPT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface PromptView {
  name: string;
  durationMs: number;
  /** Size of the converted audio (8 kHz mono 16-bit WAV). */
  bytes: number;
  createdAt: string;
  updatedAt: string;
}

export interface ToneView {
  name: string;
  description: string;
  /** One cadence cycle; a dialplan repeats it. */
  durationMs: number;
}

export interface RecordingView {
  id: string;
  /** The call record's `callId`. */
  callId: string;
  channelId: string;
  durationMs: number;
  bytes: number;
  createdAt: string;
  /** Where its audio is (audio/wav); add `?download=1` to get it as a file. */
  audioUrl: string;
  /**
   * The id of its call record (`GET /cdrs/:id`), in `GET /recordings` and `GET /recordings/:id`;
   * null until the record is written (shortly after the call ends).
   */
  cdrId?: string | null;
}
