/**
 * The API a dialplan sees: globals inside the sandbox. For the portal's editor (completion and
 * checking); nothing on the server imports this file, and no TypeScript program of the repository
 * includes it (its globals are the sandbox's, not the server's). A dialplan is an ES module:
 *
 *   export default async function (call) { … }
 *
 * There is no `require`, `import`, `process`, timers, network, WebAssembly, SharedArrayBuffer or
 * FinalizationRegistry. Every function that reaches the switch returns a promise and can reject
 * with an Error whose message explains what was refused.
 *
 * The module's top level runs once for many calls: the switch keeps it loaded between calls of
 * the same version of the dialplan. Module-level variables (and globals) may therefore keep their
 * values from one call to the next, are never shared with another version, another dialplan or
 * another tenant, and can be reset at any moment: keep what must last with `store`. The top level
 * cannot use `call`, `dial` or `respond`, which belong to one call; `store`, `log` and `now` work
 * there. Code an ended call left waiting (a promise it did not await) never runs again.
 */

/** Read-only facts about the call (deeply frozen). */
interface Call {
  readonly id: string;
  readonly channelId: string;
  /** `in`: from a provider; `out`: from one of your phones to outside; `local`: phone to phone. */
  readonly direction: 'in' | 'out' | 'local';
  readonly from: { readonly user: string; readonly host: string; readonly display?: string; readonly uri: string };
  readonly to: { readonly user: string; readonly host: string; readonly uri: string };
  readonly requestUri: string;
  /** Selected SIP headers, lower-case names. */
  readonly headers: { readonly [name: string]: string };
  readonly source: { readonly address: string; readonly port: number; readonly transport: string };
  /** The SIP account that placed the call, when it authenticated as one. */
  readonly account?: string;
  /** The provider the call came from. */
  readonly provider?: string;
  /**
   * Set when this run decides where a transfer goes: a party of an answered call (its channel id:
   * `transferer`) asked the switch (REFER) to connect the other party (`transferee`) with `to`.
   * The run is a call your tenant places: dial where the transfer may go, or `respond` to refuse it.
   */
  readonly transfer?: { readonly transferer: string; readonly transferee: string };
}

interface LegOptions {
  /** Seconds this leg rings (1–300, default 30). */
  timeout?: number;
  /** Seconds before this leg starts ringing (0–300, default 0). */
  delay?: number;
  /** Caller id presented to this leg. */
  callerId?: string;
  /** Seconds the call may last once this leg answers (1–86400; the switch's own limit still applies). */
  maxDuration?: number;
  /** Extra headers on this leg's INVITE: `X-` names only, one-line values (structured form and options only). */
  headers?: { [name: `X-${string}`]: string };
  /**
   * Who may transfer the call (REFER) once this leg answers: `true` either party, `'phones'` only
   * your own phones (SIP accounts), `false` (the default) nobody. The transfer target is then
   * decided by your dialplan, run with `call.transfer` set, like any call you place.
   */
  transfer?: boolean | 'phones';
}

type Leg = string | ({ account: string } & LegOptions) | ({ number: string; provider: string } & LegOptions) | ({ uri: string } & LegOptions);

/**
 * A dial string (`'alice & bob[delay=5] | 0123@mytrunk[timeout=20]'`: `&` rings in parallel,
 * `|` tries the next group when every leg of the previous failed), an array of legs (one
 * parallel group), or `{ groups: [[...], [...]] }`.
 */
type DialTarget = string | Leg[] | ({ groups: Leg[][] } & LegOptions);

interface DialResult {
  readonly answered: boolean;
  readonly result: 'answered' | 'busy' | 'no-answer' | `rejected:${number}` | 'unavailable' | 'cancelled';
  readonly sipStatus?: number;
  /** The leg that answered, in dial-string form. */
  readonly target?: string;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface Registration {
  readonly contact: string;
  readonly userAgent?: string;
  /** ISO 8601. */
  readonly expiresAt: string;
}

interface Now {
  /** Local time with offset, e.g. `2025-03-01T14:05:09+01:00`. */
  readonly iso: string;
  /** `YYYY-MM-DD`. */
  readonly date: string;
  readonly hour: number;
  readonly minute: number;
  /** 0 = Sunday … 6 = Saturday. */
  readonly weekday: number;
  readonly timeZone: string;
}

/** This call's facts (inside the default function; not available at the top level, which runs once for many calls). */
declare const call: Call;

/**
 * Rings the target and resolves when one leg answers or all have failed. At most 20 legs per
 * execution; one dial at a time. `options` sets the defaults of every leg.
 */
declare function dial(target: DialTarget, options?: Pick<LegOptions, 'timeout' | 'callerId' | 'maxDuration' | 'headers' | 'transfer'>): Promise<DialResult>;

/** Answers the call with a SIP status: 180–199 (progress) or 300–699 (final; only once). */
declare function respond(status: number, reason?: string): Promise<void>;

/** Writes a line to the dialplan's log (200 lines, 1000 characters each, per execution). */
declare function log(...values: unknown[]): void;

declare const console: {
  log(...values: unknown[]): void;
  info(...values: unknown[]): void;
  debug(...values: unknown[]): void;
  warn(...values: unknown[]): void;
  error(...values: unknown[]): void;
};

/**
 * The tenant's persistent key/value store. Keys are 1–256 characters; values are JSON. Whatever
 * must outlast a call goes here: module-level variables may be reset at any moment.
 */
declare const store: {
  get(key: string): Promise<Json | undefined>;
  set(key: string, value: Json): Promise<void>;
  delete(key: string): Promise<boolean>;
  keys(prefix?: string): Promise<string[]>;
};

/** Where a SIP account's phones are registered right now. */
declare function registrations(account: string): Promise<Registration[]>;

/** The current time in the tenant's time zone. */
declare function now(): Now;

/**
 * A sound to play: a built-in tone (`'ringback'`, `'busy'`, `'beep'`: one cadence cycle, repeat
 * it) or the name of one of your prompts (uploaded in the portal or with `PUT /prompts/:name`).
 */
type Sound = 'ringback' | 'busy' | 'beep' | (string & {});

interface Recording {
  /** The recording's id: `GET /recordings/:id`; it is listed with the call's record. */
  readonly id: string;
  readonly durationMs: number;
}

/**
 * Answers the call (200 OK) with the switch itself at the other end, so that `play`, `collect`
 * and `record` can run. Before `answer()` those reject; after it, `respond` does. Answering
 * twice does nothing. `dial` still works afterwards (a menu choice connects the caller).
 */
declare function answer(): Promise<void>;

/**
 * Plays a tone or a prompt to the caller, `repeat` times (1–100, default 1); resolves when it has
 * finished. Rejects for a prompt you do not have. Needs `answer()` first.
 *
 *   await answer();
 *   await play('closed-hours');
 */
declare function play(sound: Sound, options?: { repeat?: number }): Promise<void>;

/**
 * Collects up to `digits` (1–32) DTMF digits the caller presses (RFC 4733 events), waiting
 * `timeout` seconds (0.5–60) for each. `prompt` plays first and stops at the first digit; digits
 * pressed during an earlier `play` count too. Resolves with the digits pressed, perhaps fewer
 * than asked, or `''`. Needs `answer()` first.
 *
 *   const choice = await collect({ digits: 1, timeout: 5, prompt: 'menu' });
 *   if (choice === '1') return dial('sales');
 */
declare function collect(options: { digits: number; timeout: number; prompt?: Sound }): Promise<string>;

/**
 * Records what the caller says until `maxSeconds` (1–3600, default 120), until they press `#`,
 * or until they hang up, after a beep unless `beep: false`; the recording is kept whichever
 * ends it, listed with the call's record, and deleted after the retention time. Rejects when
 * your recordings already use all the space you have. Needs `answer()` first.
 *
 *   await answer();
 *   await play('leave-a-message');
 *   await record({ maxSeconds: 60 });
 *   await hangup();
 */
declare function record(options?: { maxSeconds?: number; beep?: boolean }): Promise<Recording>;

/**
 * Ends the call: an answered call is hung up; one not answered yet is declined (603 Decline, as
 * `respond(603)`). Nothing about the call can be done afterwards. A call connected by `dial`
 * ends when one of its parties hangs up, not with this.
 */
declare function hangup(): Promise<void>;
