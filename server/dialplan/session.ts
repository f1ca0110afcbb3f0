import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { HostOp } from '../../worker/protocol.ts';
import { KvQuotaError } from '../store/kv.ts';
import { audioArgSchemas, DEFAULT_RECORD_SECONDS, toSound } from './audioVerbs.ts';
import { AudioError, type CallAudio } from './callAudio.ts';
import { legCount, maxDialSeconds, toDialSpec } from './dialString.ts';
import type { Action, DialplanHost, DialResult, JsonValue, LogLevel, LogLine } from './types.ts';

export interface SessionLimits {
  legsPerExecution: number;
  hostOpTimeoutMs: number;
  maxLogLines: number;
}

const MAX_ARGS_JSON = 128 * 1024;
/**
 * Replies a journal keeps for replay, in characters: a script may read a 128 KiB value a thousand
 * times. Past this the execution is no longer resumable (a worker death then fails it).
 */
const MAX_JOURNAL_CHARS = 1024 * 1024;
/** Arguments up to this long are kept as they are in the journal; longer ones by a digest. */
const VERBATIM_ARGS = 256;
/**
 * Operations that only read. A run after a restart may make them anew, or skip recorded ones: its
 * module state may differ from the first run's (a warm context's cache, full in one, empty in the
 * other), and reading twice, or not, acts on nothing.
 */
const READS: ReadonlySet<string> = new Set<HostOp>(['store.get', 'store.keys', 'registrations']);
const key = z.string().min(1).max(256);
const argSchemas = {
  dial: z.tuple([z.unknown(), z.unknown()]),
  respond: z.tuple([
    z
      .number()
      .int()
      .refine((s) => (s >= 180 && s <= 199) || (s >= 300 && s <= 699), 'status must be 180–199 or 300–699'),
    z
      .string()
      .max(128)
      .regex(/^[^\r\n]*$/, 'reason must be one line')
      .nullish(),
  ]),
  'store.get': z.tuple([key]),
  'store.set': z.tuple([key, z.json()]),
  'store.delete': z.tuple([key]),
  'store.keys': z.tuple([z.string().max(256).nullish()]),
  registrations: z.tuple([z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'not a valid account name')]),
  ...audioArgSchemas,
} satisfies Record<HostOp, z.ZodType>;

/** Audio verbs last as long as the audio: the execution's own wall time bounds them. */
const AUDIO_OP_MS = 3_600_000;

const dialResultSchema = z.object({
  answered: z.boolean(),
  result: z.union([z.enum(['answered', 'busy', 'no-answer', 'unavailable', 'cancelled']), z.templateLiteral(['rejected:', z.number().int()])]),
  sipStatus: z.number().int().optional(),
  target: z.string().optional(),
});

type Unstamped<A> = A extends Action ? Omit<A, 'at'> : never;

export interface SessionEvents {
  firstDial(): void;
  /** A run after a worker death asked for something else than the first run did: it cannot resume. */
  diverged(message: string): void;
}

/** One host call as the session answered it; `args` is short or a digest, so a journal never holds 128 KiB per call. */
interface JournalEntry {
  op: string;
  args: string;
  /** Dropped once the journal is over its size (and the execution no longer resumable). */
  reply: Promise<string> | null;
}

/** An error whose message the tenant may read (anything else is reported as an internal failure). */
class ScriptFacingError extends Error {}

const reply = {
  ok: (value: unknown) => JSON.stringify({ ok: true, value: value ?? null }),
  error: (message: string) => JSON.stringify({ ok: false, message }),
};

/**
 * The server side of one execution: validates every host call coming out of the sandbox, applies
 * the per-execution rules (legs, one dial at a time, nothing after a final response), calls the
 * DialplanHost under a timeout, and records the actions and the tenant-visible log.
 *
 * It also keeps a journal of the host calls it answered, so that an execution whose worker died
 * under it (another tenant's fault, or the operator's) can run again on another worker without
 * acting twice: after `restart()`, calls that match the journal in order (same operation, same
 * arguments) get the recorded reply, or the same pending one (a dial still ringing), and the first
 * log lines, already recorded, are not repeated. Reads are free: one the journal does not have
 * next is answered anew, recorded ones the run does not make are skipped. The first action
 * (dial, respond, a write) that does not match ends the execution (`diverged`): the script decided
 * differently the second time, and what the first run set going cannot be squared with it.
 */
export class ExecutionSession {
  readonly actions: Action[] = [];
  readonly logs: LogLine[] = [];
  private readonly startedAt = Date.now();
  /** Host operations in progress, each by what stops waiting on it. */
  private readonly inflight = new Set<() => void>();
  private legsUsed = 0;
  private dialing = false;
  private finalStatus: number | null = null;
  private answered = false;
  /** The call was answered by the switch itself (`answer()`): audio verbs may run. */
  private switchAnswered = false;
  private hungUp = false;
  private ended = false;
  private readonly journal: JournalEntry[] = [];
  /** Journal entries the current run has replayed, skipped or added. */
  private replayed = 0;
  /** Host calls of the current run not answered yet. */
  private waiting = 0;
  /** Log lines of the furthest run so far, and of the current run. */
  private linesSeen = 0;
  private linesThisRun = 0;
  private journalChars = 0;
  /** Whether the execution can run again from its journal (false once the journal grew too big). */
  resumable = true;
  /** How many times the execution started (1 + restarts). */
  runs = 1;

  constructor(
    private readonly host: DialplanHost,
    private readonly limits: SessionLimits,
    /** The execution's logger, made on first use. */
    private readonly logger: () => Logger,
    private readonly events: SessionEvents,
  ) {}

  /** True when a final SIP response went out through `respond()`. */
  get responded(): boolean {
    return this.finalStatus !== null;
  }

  /** Whether the current run is waiting on the host right now (a running script is a crash suspect). */
  get waitingOnHost(): boolean {
    return this.waiting > 0;
  }

  private elapsed(): number {
    return Date.now() - this.startedAt;
  }

  /** The execution runs again from the start (its worker died): replay from the journal. Only if `resumable`. */
  restart(): void {
    this.runs += 1;
    this.replayed = 0;
    this.waiting = 0;
    this.linesThisRun = 0;
  }

  log(level: LogLevel, message: string): void {
    if (this.ended) return;
    // A run after a restart repeats the lines of the runs before it: those are recorded already.
    if (++this.linesThisRun <= this.linesSeen) return;
    this.linesSeen = this.linesThisRun;
    if (this.logs.length >= this.limits.maxLogLines) return;
    this.logs.push({ at: this.elapsed(), level, message });
    try {
      this.host.log(level, message);
    } catch (err) {
      this.logger().warn({ err }, 'dialplan host log sink failed');
    }
  }

  /** Answers one host call from the sandbox; always resolves with the reply JSON. */
  handle(op: string, argsJson: string): Promise<string> {
    if (this.ended) return Promise.resolve(reply.error('the execution has ended'));
    const args = argsJson.length <= VERBATIM_ARGS ? argsJson : createHash('sha256').update(argsJson).digest('base64');
    if (this.replayed < this.journal.length) {
      const at = this.replayable(op, args);
      if (at >= 0) {
        this.replayed = at + 1;
        return this.pending(this.journal[at]?.reply as Promise<string>);
      }
      if (READS.has(op)) return this.pending(this.answer(op, argsJson));
      const next = this.journal.slice(this.replayed).find((e) => !READS.has(e.op));
      if (next) {
        const what = next.op === op ? `${op} with other arguments` : `${op} instead of ${next.op}`;
        this.events.diverged(`host call ${this.journal.indexOf(next) + 1} was ${what}`);
        return Promise.resolve(reply.error('the execution has ended'));
      }
      // Only reads were left: the run is past what the one before it did.
      this.replayed = this.journal.length;
    }
    const answer = this.answer(op, argsJson);
    const entry: JournalEntry = { op, args, reply: answer };
    void answer.then((json) => {
      this.journalChars += json.length;
      if (this.journalChars > MAX_JOURNAL_CHARS) this.forgetReplies();
    });
    this.journal.push(entry);
    this.replayed += 1;
    return this.pending(answer);
  }

  /**
   * Where the journal, from the current run's place in it, has this call: the next entry, or the
   * first one after recorded reads that the run skips; -1 when it has not.
   */
  private replayable(op: string, args: string): number {
    for (let at = this.replayed; at < this.journal.length; at++) {
      const entry = this.journal[at] as JournalEntry;
      if (entry.reply && entry.op === op && entry.args === args) return at;
      if (!READS.has(entry.op)) return -1;
    }
    return -1;
  }

  /** Counts a reply of the current run as awaited until it settles. */
  private pending(answer: Promise<string>): Promise<string> {
    const run = this.runs;
    this.waiting += 1;
    const settled = () => {
      if (this.runs === run) this.waiting -= 1;
    };
    answer.then(settled, settled);
    return answer;
  }

  private forgetReplies(): void {
    this.resumable = false;
    for (const entry of this.journal) entry.reply = null;
  }

  private async answer(op: string, argsJson: string): Promise<string> {
    if (!(op in argSchemas)) return reply.error(`unknown operation ${op}`);
    if (argsJson.length > MAX_ARGS_JSON) return reply.error(`arguments larger than ${MAX_ARGS_JSON} bytes`);
    const hostOp = op as HostOp;
    let raw: unknown;
    try {
      raw = JSON.parse(argsJson);
    } catch {
      return reply.error(`invalid arguments to ${op}`);
    }
    const args = argSchemas[hostOp].safeParse(raw);
    if (!args.success) return reply.error(`invalid arguments to ${op}: ${z.prettifyError(args.error)}`);
    try {
      return reply.ok(await this.perform(hostOp, args.data));
    } catch (err) {
      if (err instanceof ScriptFacingError || err instanceof KvQuotaError || err instanceof AudioError) return reply.error(err.message);
      this.logger().warn({ err, op }, 'dialplan host operation failed');
      return reply.error(`${op} failed (internal error)`);
    }
  }

  /** Stops waiting for the host: pending operations are aborted and later calls refused. */
  end(): void {
    this.ended = true;
    for (const stop of [...this.inflight]) stop();
  }

  private async perform(op: HostOp, args: unknown[]): Promise<unknown> {
    const store = this.host.store;
    switch (op) {
      case 'dial':
        return this.dial(args[0], args[1]);
      case 'respond': {
        const [status, reason] = args as [number, string | null | undefined];
        this.refuseAfterFinal();
        if (this.answered) throw new ScriptFacingError('respond: the call was already answered by a dial');
        if (this.switchAnswered) throw new ScriptFacingError('respond: the call was already answered (answer())');
        await this.withTimeout(op, this.limits.hostOpTimeoutMs, () => this.host.respond(status, reason ?? undefined));
        if (status >= 300) this.finalStatus = status;
        this.record({ type: 'respond', status, ...(reason ? { reason } : {}) });
        return null;
      }
      case 'store.get':
        return this.withTimeout(op, this.limits.hostOpTimeoutMs, () => store.get(args[0] as string));
      case 'store.set': {
        const [k, value] = args as [string, JsonValue];
        await this.withTimeout(op, this.limits.hostOpTimeoutMs, () => store.set(k, value));
        this.record({ type: 'store.set', key: k });
        return null;
      }
      case 'store.delete': {
        const k = args[0] as string;
        const existed = await this.withTimeout(op, this.limits.hostOpTimeoutMs, () => store.delete(k));
        this.record({ type: 'store.delete', key: k });
        return existed;
      }
      case 'store.keys':
        return this.withTimeout(op, this.limits.hostOpTimeoutMs, () => store.keys((args[0] as string | null) ?? undefined));
      case 'registrations':
        return this.withTimeout(op, this.limits.hostOpTimeoutMs, () => this.host.registrations(args[0] as string));
      case 'answer':
        return this.answerCall();
      case 'hangup':
        return this.hangup();
      case 'play': {
        const [name, options] = args as [string, { repeat?: number } | null | undefined];
        const repeat = options?.repeat ?? 1;
        await this.audioOp('play', (audio, signal) => audio.play(toSound(name), { repeat, signal }));
        this.record({ type: 'play', sound: name, repeat });
        return null;
      }
      case 'collect': {
        const [o] = args as [{ digits: number; timeout: number; prompt?: string }];
        const digits = await this.audioOp('collect', (audio, signal) =>
          audio.collect({ digits: o.digits, timeoutMs: o.timeout * 1000, ...(o.prompt ? { prompt: toSound(o.prompt) } : {}), signal }),
        );
        this.record({ type: 'collect', digits, ...(o.prompt ? { prompt: o.prompt } : {}) });
        return digits;
      }
      case 'record': {
        const [o] = args as [{ maxSeconds?: number; beep?: boolean } | null | undefined];
        const info = await this.audioOp('record', (audio, signal) => audio.record({ maxSeconds: o?.maxSeconds ?? DEFAULT_RECORD_SECONDS, beep: o?.beep ?? true, signal }));
        this.record({ type: 'record', recordingId: info.id, durationMs: info.durationMs });
        return info;
      }
    }
  }

  private audio(verb: string): CallAudio {
    if (!this.host.audio) throw new ScriptFacingError(`${verb}: this call has no media path through the switch (direct media), so it cannot answer, play or record`);
    return this.host.audio;
  }

  /** `answer()`: the switch answers the call itself; a second call does nothing. */
  private async answerCall(): Promise<null> {
    this.refuseAfterFinal();
    if (this.answered) throw new ScriptFacingError('answer: the call was already answered by a dial');
    if (this.switchAnswered) return null;
    const audio = this.audio('answer');
    await this.withTimeout('answer', this.limits.hostOpTimeoutMs, () => audio.answer());
    this.switchAnswered = true;
    // An answered caller is not left ringing: the deadline for the first dial no longer applies.
    this.events.firstDial();
    this.record({ type: 'answer' });
    return null;
  }

  /**
   * `hangup()`: an answered call ends (BYE); one not answered yet is declined (603), as a
   * `respond(603)` would. Nothing about the call can be done after it.
   */
  private async hangup(): Promise<null> {
    if (this.hungUp) return null;
    if (this.answered) throw new ScriptFacingError('hangup: the call is connected to the party a dial reached; it ends when one of them hangs up');
    if (this.switchAnswered) {
      const audio = this.audio('hangup');
      await this.withTimeout('hangup', this.limits.hostOpTimeoutMs, () => audio.hangup());
    } else if (this.finalStatus === null) {
      await this.withTimeout('hangup', this.limits.hostOpTimeoutMs, () => this.host.respond(603, 'Decline'));
      this.finalStatus = 603;
      this.record({ type: 'respond', status: 603, reason: 'Decline' });
    }
    this.hungUp = true;
    this.events.firstDial();
    this.record({ type: 'hangup' });
    return null;
  }

  /** A verb that needs the switch to have answered; it stops (its signal aborts) when the execution ends. */
  private audioOp<T>(verb: string, run: (audio: CallAudio, signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.hungUp) throw new ScriptFacingError(`${verb}: the call was hung up`);
    if (this.answered) throw new ScriptFacingError(`${verb}: the call is connected to the party a dial reached`);
    if (!this.switchAnswered) throw new ScriptFacingError(`${verb}: answer() the call first`);
    const audio = this.audio(verb);
    const stop = new AbortController();
    return this.withTimeout(
      verb,
      AUDIO_OP_MS,
      () => run(audio, stop.signal),
      () => stop.abort(),
    );
  }

  private async dial(target: unknown, options: unknown): Promise<DialResult> {
    let spec;
    try {
      spec = toDialSpec(target, options);
    } catch (err) {
      throw new ScriptFacingError((err as Error).message);
    }
    this.refuseAfterFinal();
    if (this.answered) throw new ScriptFacingError('dial: the call was already answered');
    if (this.dialing) throw new ScriptFacingError('dial: another dial is still in progress (await it first)');
    const legs = legCount(spec);
    if (this.legsUsed + legs > this.limits.legsPerExecution) {
      throw new ScriptFacingError(`dial: too many legs (${this.legsUsed} used, ${legs} more requested, limit ${this.limits.legsPerExecution} per execution)`);
    }
    this.legsUsed += legs;
    this.dialing = true;
    this.events.firstDial();
    try {
      const timeoutMs = maxDialSeconds(spec) * 1000 + this.limits.hostOpTimeoutMs;
      const ringing = new AbortController();
      const answer = this.withTimeout(
        'dial',
        timeoutMs,
        () => this.host.dial(spec, ringing.signal),
        () => ringing.abort(),
      );
      const result = dialResultSchema.parse(await answer);
      this.answered = result.answered;
      this.record({ type: 'dial', spec, result });
      return result;
    } finally {
      this.dialing = false;
    }
  }

  private refuseAfterFinal(): void {
    if (this.hungUp) throw new ScriptFacingError('the call was hung up');
    if (this.finalStatus !== null) {
      throw new ScriptFacingError(`the call was already answered with a final response (${this.finalStatus})`);
    }
  }

  private record(action: Unstamped<Action>): void {
    this.actions.push({ ...action, at: this.elapsed() } as Action);
  }

  /**
   * Every host operation settles: by itself, by its timeout, or when the execution ends; `abort`
   * then tells the host to stop (a dial stops ringing). Only dials take an AbortSignal: making one
   * per store read cost the dispatcher as much as the read's validation.
   */
  private withTimeout<T>(op: string, ms: number, run: () => Promise<T>, abort?: () => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const stop = () => {
        settle();
        abort?.();
        reject(new ScriptFacingError(this.ended ? 'the execution has ended' : `${op} timed out after ${ms} ms`));
      };
      const timer = setTimeout(stop, ms);
      const settle = () => {
        clearTimeout(timer);
        this.inflight.delete(stop);
      };
      this.inflight.add(stop);
      run().then(
        (value) => {
          settle();
          resolve(value);
        },
        (err: unknown) => {
          settle();
          reject(err);
        },
      );
    });
  }
}
