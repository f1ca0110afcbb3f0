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
