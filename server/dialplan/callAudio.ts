/**
 * The audio verbs of a dialplan (`answer`, `play`, `collect`, `record`, `hangup`) as the call
 * path provides them for one call: the runner validates what the script asks and applies the
 * rules (answer first, nothing after hang-up); an implementation makes it happen — over a media
 * engine for real calls (server/audio/mediaCallAudio.ts), made up in the simulator.
 */

/** What to play: a built-in tone or one of the tenant's prompts, by name. */
export type Sound = { tone: string } | { prompt: string };

export interface RecordingInfo {
  id: string;
  durationMs: number;
}

export interface CallAudio {
  /** Answers the call (200 OK), the switch being the media endpoint. */
  answer(): Promise<void>;
  /** Plays `sound` `repeat` times; resolves when it has finished, or stops when `signal` aborts. */
  play(sound: Sound, opts: { repeat: number; signal: AbortSignal }): Promise<void>;
  /**
   * Collects up to `digits` DTMF digits, including any pressed since the last collect; `prompt`
   * plays first and stops at the first digit. Waits `timeoutMs` for each digit (after the prompt);
   * resolves with what was pressed, maybe fewer digits or none.
   */
  collect(opts: { digits: number; timeoutMs: number; prompt?: Sound; signal: AbortSignal }): Promise<string>;
  /**
   * Records what the caller says until `maxSeconds`, `#`, the caller hanging up or `signal`
   * aborting; a beep first if asked. The recording is stored whatever ended it.
   */
  record(opts: { maxSeconds: number; beep: boolean; signal: AbortSignal }): Promise<RecordingInfo>;
  /** Ends the answered call (BYE). */
  hangup(): Promise<void>;
}

/** A refusal whose message the tenant's script may read (an unknown prompt, the recording quota). */
export class AudioError extends Error {}
