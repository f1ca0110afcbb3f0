/**
 * The arguments of the audio verbs as a script passes them, validated (zod) before the session
 * acts on them, and turned into what `CallAudio` takes.
 */
import { z } from 'zod';
import { isToneName, PROMPT_NAME } from '../../contract/audio.ts';
import type { Sound } from './callAudio.ts';

/** A tone's name, or a prompt's. */
const sound = z.string().regex(PROMPT_NAME, 'a sound is a built-in tone (ringback, busy, beep) or the name of one of your prompts');

export const audioArgSchemas = {
  answer: z.tuple([]),
  play: z.tuple([sound, z.strictObject({ repeat: z.number().int().min(1).max(100).optional() }).nullish()]),
  collect: z.tuple([
    z.strictObject({
      digits: z.number().int().min(1).max(32),
      /** Seconds to wait for each digit. */
      timeout: z.number().min(0.5).max(60),
      prompt: sound.optional(),
    }),
  ]),
  record: z.tuple([z.strictObject({ maxSeconds: z.number().int().min(1).max(3600).optional(), beep: z.boolean().optional() }).nullish()]),
  hangup: z.tuple([]),
};

export const toSound = (name: string): Sound => (isToneName(name) ? { tone: name } : { prompt: name });

/** Recordings last this long unless the script says otherwise. */
export const DEFAULT_RECORD_SECONDS = 120;
