/** The worker thread behind promptThread.ts: converts the upload it was started with, answers once. */
import { parentPort, workerData } from 'node:worker_threads';
import type { ConversionReply } from './promptThread.ts';
import { convertPrompt, PromptFormatError } from './prompts.ts';

const reply = (m: ConversionReply) => parentPort!.postMessage(m);

convertPrompt(workerData as Uint8Array).then(
  (out) => reply({ ok: true, wav: out.wav, durationMs: out.durationMs }),
  (err: unknown) => reply({ ok: false, userError: err instanceof PromptFormatError, message: (err as Error).message }),
);
