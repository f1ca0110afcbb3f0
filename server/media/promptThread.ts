/**
 * Prompt conversion off the event loop: decoding and resampling minutes of audio takes a second
 * or more of CPU, which on the main thread would hold up SIP. Each conversion runs in a worker
 * thread of its own (uploads are rare, so a thread per upload costs little), at most
 * MAX_CONVERSIONS at once, each ended after TIME_LIMIT_MS.
 */
import { Worker } from 'node:worker_threads';
import { PromptFormatError, type ConvertedPrompt } from './prompts.ts';

const MAX_CONVERSIONS = 2;
const TIME_LIMIT_MS = 60_000;

/** Conversions are all busy: try again shortly. */
export class PromptConversionBusy extends Error {}

export type ConversionReply = { ok: true; wav: Uint8Array; durationMs: number } | { ok: false; userError: boolean; message: string };

let running = 0;

/** convertPrompt (prompts.ts) in a worker thread; the same errors. */
export async function convertPromptOffThread(bytes: Uint8Array): Promise<ConvertedPrompt> {
  if (running >= MAX_CONVERSIONS) throw new PromptConversionBusy(`${MAX_CONVERSIONS} prompts are being converted already; try again in a moment`);
  running++;
  // A worker thread does not inherit the parent's `--import tsx` (Node 20): it registers tsx itself.
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./promptThreadWorker.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  const worker = new Worker(boot, { eval: true, name: 'prompt-conversion', execArgv: [], workerData: bytes });
  try {
    const reply = await new Promise<ConversionReply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new PromptFormatError(`converting the file took more than ${TIME_LIMIT_MS / 1000} s`)), TIME_LIMIT_MS);
      worker.once('message', (m: ConversionReply) => {
        clearTimeout(timer);
        resolve(m);
      });
      worker.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      worker.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the prompt conversion thread exited (${code}) without an answer`));
      });
    });
    if (!reply.ok) throw reply.userError ? new PromptFormatError(reply.message) : new Error(reply.message);
    return { wav: Buffer.from(reply.wav), durationMs: reply.durationMs };
  } finally {
    running--;
    await worker.terminate();
  }
}
