/**
 * What a dialplan execution did besides dialling, in order, with `at` in milliseconds since it
 * started: the runner records them (server/dialplan/types.ts `Action`), a test run returns them
 * and the editor's test-run panel lists them. Dial actions differ between the two (the runner's
 * full dial spec, the portal's view of it), so each side adds its own.
 */
export type NonDialAction =
  | { type: 'respond'; at: number; status: number; reason?: string }
  | { type: 'store.set'; at: number; key: string }
  | { type: 'store.delete'; at: number; key: string }
  | { type: 'answer'; at: number }
  /** `sound`: a tone's or prompt's name. */
  | { type: 'play'; at: number; sound: string; repeat: number }
  /** `digits`: what the caller pressed (in a test run, taken from the digits given). */
  | { type: 'collect'; at: number; digits: string; prompt?: string }
  | { type: 'record'; at: number; recordingId: string; durationMs: number }
  | { type: 'hangup'; at: number };
