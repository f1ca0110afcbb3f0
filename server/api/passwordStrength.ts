/**
 * Password strength off the event loop. zxcvbn is synchronous and its cost grows with the input:
 * a 200-character l33t password (`p@$$w0rd` repeated) kept the event loop, and with it SIP, busy for
 * over a second. So it runs in one worker thread, sees at most the first STRENGTH_CHECKED_CHARS
 * characters, and at most MAX_PENDING checks wait for it; beyond that a check is refused (busy)
 * rather than queued. A worker that has checks waiting but answers nothing for STALL_MS (its start,
 * which builds zxcvbn's dictionaries, takes seconds on a loaded machine: that is an answer too) is
 * ended with the checks waiting on it; the next check starts a new one.
 */
import { Worker } from 'node:worker_threads';

/** Characters of a password zxcvbn scores (measured: ~50–200 ms for the worst 64 we found, 2-core VM under load). */
export const STRENGTH_CHECKED_CHARS = 64;
const MAX_PENDING = 32;
const STALL_MS = 30_000;

export interface StrengthRequest {
  id: number;
  password: string;
  context: string[];
}

/** A score, or (`id` 0) that the worker has started. */
export interface StrengthReply {
  id: number;
  score: number;
}

export const READY: StrengthReply = { id: 0, score: 0 };

/** Too many checks waiting, or the checker failed: the caller may try again shortly. */
export class StrengthCheckUnavailable extends Error {}

interface Pending {
  resolve: (score: number) => void;
  reject: (err: Error) => void;
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
  /** Armed while checks wait; every answer of the worker re-arms it. */
  private stall: NodeJS.Timeout | undefined;

  /** zxcvbn's score (0–4) of `password`, with `context` words (email, username) counting against it. */
  score(password: string, context: string[] = []): Promise<number> {
    if (this.pending.size >= MAX_PENDING) return Promise.reject(new StrengthCheckUnavailable('too many password checks at once'));
    const worker = this.running();
    const id = this.nextId++;
    return new Promise<number>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (!this.stall) this.watch(worker);
      const request: StrengthRequest = { id, password: password.slice(0, STRENGTH_CHECKED_CHARS), context };
      worker.postMessage(request);
    });
  }

  private running(): Worker {
    if (this.worker) return this.worker;
    const worker = startWorker();
    worker.on('message', (m: StrengthReply) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      this.watch(worker);
      p?.resolve(m.score);
    });
    worker.on('error', (err) => this.fail(worker, new StrengthCheckUnavailable(`the password checker failed: ${err.message}`)));
    worker.on('exit', () => this.fail(worker, new StrengthCheckUnavailable('the password checker stopped')));
    // Never what keeps the process alive (after the listeners: adding one refs the worker again).
    worker.unref();
    this.worker = worker;
    return worker;
  }

  /** (Re)arms the stall timer while checks wait; a waiting check keeps the process alive through it. */
  private watch(worker: Worker): void {
    clearTimeout(this.stall);
    this.stall = this.pending.size ? setTimeout(() => this.fail(worker, new StrengthCheckUnavailable('the password checker stopped answering')), STALL_MS) : undefined;
  }

  private fail(worker: Worker, err: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    clearTimeout(this.stall);
    this.stall = undefined;
    void worker.terminate();
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(err);
    }
  }
}
