/**
 * Password strength off the event loop. zxcvbn is synchronous and its cost grows with the input:
 * a 200-character l33t password (`p@$$w0rd` repeated) kept the event loop, and with it SIP, busy for
 * over a second. So it runs in one worker thread, sees at most the first STRENGTH_CHECKED_CHARS
 * characters, and at most MAX_PENDING checks wait for it; beyond that a check is refused (busy)
 * rather than queued. A check that takes longer than CHECK_TIMEOUT_MS ends the worker (and the
 * checks waiting on it); the next check starts a new one.
 */
import { Worker } from 'node:worker_threads';

/** Characters of a password zxcvbn scores (measured: ~50–150 ms for the worst 64 we found, 2-core VM). */
export const STRENGTH_CHECKED_CHARS = 64;
const MAX_PENDING = 32;
const CHECK_TIMEOUT_MS = 10_000;

export interface StrengthRequest {
  id: number;
  password: string;
  context: string[];
}

export interface StrengthReply {
  id: number;
  score: number;
}

/** Too many checks waiting, or the checker failed: the caller may try again shortly. */
export class StrengthCheckUnavailable extends Error {}

interface Pending {
  resolve: (score: number) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * The worker is TypeScript like the rest of the server; a worker thread does not inherit the
 * parent's `--import tsx` (Node 20), so it registers tsx itself before loading its module.
 */
function startWorker(): Worker {
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./passwordStrengthWorker.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  // None of the parent's flags: under `node --test` they would make the worker a test runner.
  return new Worker(boot, { eval: true, name: 'password-strength', execArgv: [] });
}

export class PasswordStrengthChecker {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  /** zxcvbn's score (0–4) of `password`, with `context` words (email, username) counting against it. */
  score(password: string, context: string[] = []): Promise<number> {
    if (this.pending.size >= MAX_PENDING) return Promise.reject(new StrengthCheckUnavailable('too many password checks at once'));
    const worker = this.running();
    const id = this.nextId++;
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(worker, new StrengthCheckUnavailable('the password check took too long')), CHECK_TIMEOUT_MS);
      this.pending.set(id, { resolve, reject, timer });
      const request: StrengthRequest = { id, password: password.slice(0, STRENGTH_CHECKED_CHARS), context };
      worker.postMessage(request);
    });
  }

  private running(): Worker {
    if (this.worker) return this.worker;
    const worker = startWorker();
    worker.on('message', (m: StrengthReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      p.resolve(m.score);
    });
    worker.on('error', (err) => this.fail(worker, new StrengthCheckUnavailable(`the password checker failed: ${err.message}`)));
    worker.on('exit', () => this.fail(worker, new StrengthCheckUnavailable('the password checker stopped')));
    // Never what keeps the process alive (after the listeners: adding one refs the worker again).
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private fail(worker: Worker, err: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    void worker.terminate();
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(err);
    }
  }
}
