import { z } from 'zod';

/**
 * Dial strings, as a dialplan writes them:
 *
 *   dial-string = group *( "|" group )        ; next group only if every leg of the previous failed
 *   group       = leg *( "&" leg )            ; legs of a group ring in parallel
 *   leg         = target [ "[" option *( "," option ) "]" ]
 *   target      = sip-uri                     ; "sip:" or "sips:" then no spaces, & | [ ] or ,
 *               / number "@" provider         ; number: ["+"] digits, "*", "#"
 *               / account                     ; a SIP account of the tenant
 *   option      = "timeout=" seconds          ; 1..300, how long this leg rings (default 30)
 *               / "delay=" seconds            ; 0..300, wait before ringing this leg (default 0)
 *               / "callerId=" value           ; caller id presented on this leg
 *               / "maxDuration=" seconds      ; 1..86400, how long the call may last once answered
 *               / "transfer=" ("true" / "phones" / "false") ; who may transfer the call once answered
 *
 * Whitespace around `&`, `|` and the brackets is ignored. Example:
 *   `alice & bob[delay=5] | +4930123456@mytrunk[timeout=20,callerId=+4930999]`
 * Account and provider names are letters, digits, `.`, `_` and `-`. A SIP URI with an IPv6 host
 * needs the structured form.
 *
 * Structured forms (same meaning): an array of legs is one parallel group; `{groups: [[...], ...]}`
 * lists sequential groups. A leg is `{account}`, `{number, provider}`, `{uri}` or a one-leg string,
 * each with optional `timeout`, `delay`, `callerId`. `dial(target, {timeout, callerId})` sets the
 * defaults of every leg that does not set its own.
 */

export type DialTarget = { kind: 'account'; account: string } | { kind: 'provider'; number: string; provider: string } | { kind: 'uri'; uri: string };

export interface LegOptions {
  /** Seconds this leg rings. */
  timeout: number;
  /** Seconds to wait before ringing this leg. */
  delay: number;
  callerId?: string;
  /** Seconds the call may last once this leg answers (the switch-wide limit still applies). */
  maxDuration?: number;
  /** Extra `X-` headers for this leg's INVITE (structured form only). */
  headers?: Record<string, string>;
  /** Who may transfer the call once this leg answers: either party, the tenant's phones only, or nobody (default). */
  transfer?: boolean | 'phones';
}

export type DialLeg = DialTarget & {
  /** Canonical dial-string form of the target (`alice`, `0123@mytrunk`, `sip:bob@example.com`). */
  target: string;
  options: LegOptions;
};

export interface DialSpec {
  groups: DialLeg[][];
}

export const DEFAULT_LEG_TIMEOUT = 30;
const MAX_DIAL_STRING = 2000;

/** A dial string that does not parse; `column` is 1-based. */
export class DialStringError extends Error {
  constructor(
    readonly reason: string,
    readonly column: number,
  ) {
    super(`invalid dial string: ${reason} at column ${column}`);
    this.name = 'DialStringError';
  }
}

const NAME = /^[A-Za-z0-9._-]{1,64}$/;
const NUMBER = /^\+?[0-9*#]{1,32}$/;
const CALLER_ID = /^[+A-Za-z0-9._-]{1,64}$/;

const MAX_DURATION = 24 * 3600;
const seconds = (min: number) => z.number().int().min(min).max(300);
/** Only `X-` extension headers: a script must not be able to forge or break the SIP the switch sends. */
const extraHeaders = z
  .record(
    z.string().regex(/^X-[A-Za-z0-9-]{1,62}$/, 'only X- headers (letters, digits, -) may be added'),
    z
      .string()
      .max(256)
      .regex(/^[^\r\n\0]*$/, 'header values are one line'),
  )
  .refine((h) => Object.keys(h).length <= 10, 'at most 10 headers');
const optionShapes = {
  timeout: seconds(1).optional(),
  delay: seconds(0).optional(),
  callerId: z.string().regex(CALLER_ID, 'letters, digits, + . _ - (at most 64)').optional(),
  maxDuration: z.number().int().min(1).max(MAX_DURATION).optional(),
  headers: extraHeaders.optional(),
  transfer: z.union([z.boolean(), z.literal('phones')]).optional(),
};
type PartialOptions = Partial<LegOptions>;

function withDefaults(own: PartialOptions, defaults: PartialOptions): LegOptions {
  const callerId = own.callerId ?? defaults.callerId;
  const maxDuration = own.maxDuration ?? defaults.maxDuration;
  const headers = own.headers || defaults.headers ? { ...defaults.headers, ...own.headers } : undefined;
  const transfer = own.transfer ?? defaults.transfer;
  return {
    timeout: own.timeout ?? defaults.timeout ?? DEFAULT_LEG_TIMEOUT,
    delay: own.delay ?? defaults.delay ?? 0,
    ...(callerId === undefined ? {} : { callerId }),
    ...(maxDuration === undefined ? {} : { maxDuration }),
    ...(headers === undefined ? {} : { headers }),
    ...(transfer === undefined ? {} : { transfer }),
  };
}

function canonical(target: DialTarget): string {
  if (target.kind === 'account') return target.account;
  if (target.kind === 'provider') return `${target.number}@${target.provider}`;
  return target.uri;
}

function leg(target: DialTarget, options: LegOptions): DialLeg {
  return { ...target, target: canonical(target), options };
}

class Scanner {
  pos = 0;
  constructor(readonly input: string) {}

  fail(reason: string, at = this.pos): never {
    throw new DialStringError(reason, at + 1);
  }
  skipSpace(): void {
    while (this.pos < this.input.length && /\s/.test(this.input[this.pos] ?? '')) this.pos++;
  }
  peek(): string | undefined {
    return this.input[this.pos];
  }
  /** Consumes the longest run of characters matching `char`. */
  take(char: RegExp): string {
    const start = this.pos;
    while (this.pos < this.input.length && char.test(this.input[this.pos] ?? '')) this.pos++;
    return this.input.slice(start, this.pos);
  }
  describeHere(): string {
    const c = this.peek();
    return c === undefined ? 'end of string' : `'${c}'`;
  }
}

function parseTarget(s: Scanner): DialTarget {
  const start = s.pos;
  if (/^sips?:/i.test(s.input.slice(s.pos))) {
    const uri = s.take(/[^\s&|[\],]/);
    if (!/^sips?:[^@:]*@?[^@]+$/i.test(uri) || uri.endsWith(':')) s.fail(`'${uri}' is not a valid SIP URI`, start);
    return { kind: 'uri', uri };
  }
  const token = s.take(/[A-Za-z0-9._+*#@-]/);
  if (!token) s.fail(`expected an account, number@provider or SIP URI but found ${s.describeHere()}`);
  const at = token.indexOf('@');
  if (at < 0) {
    if (!NAME.test(token)) s.fail(`'${token}' is not a valid account name (letters, digits, . _ -)`, start);
    return { kind: 'account', account: token };
  }
  const number = token.slice(0, at);
  const provider = token.slice(at + 1);
  if (!NUMBER.test(number)) s.fail(`'${number}' is not a number (use number@provider, or a SIP URI for other users)`, start);
  if (!NAME.test(provider)) s.fail(`'${provider}' is not a valid provider name`, start + at + 1);
  return { kind: 'provider', number, provider };
}

function parseOptions(s: Scanner): PartialOptions {
  const options: PartialOptions = {};
  if (s.peek() !== '[') return options;
  s.pos++;
  for (;;) {
    s.skipSpace();
    const nameAt = s.pos;
    const name = s.take(/[A-Za-z]/);
    if (!name) s.fail(`expected an option name but found ${s.describeHere()}`);
    s.skipSpace();
    if (s.peek() !== '=') s.fail(`expected '=' after '${name}' but found ${s.describeHere()}`);
    s.pos++;
    s.skipSpace();
    const valueAt = s.pos;
    const value = s.take(/[^\s,\]]/);
    if (name === 'timeout' || name === 'delay') {
      const n = /^\d{1,3}$/.test(value) ? Number(value) : NaN;
      const min = name === 'timeout' ? 1 : 0;
      if (!(n >= min && n <= 300)) s.fail(`${name} must be whole seconds from ${min} to 300, not '${value}'`, valueAt);
      options[name] = n;
    } else if (name === 'callerId') {
      if (!CALLER_ID.test(value)) s.fail(`'${value}' is not a valid callerId`, valueAt);
      options.callerId = value;
    } else if (name === 'maxDuration') {
      const n = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
      if (!(n >= 1 && n <= MAX_DURATION)) s.fail(`maxDuration must be whole seconds from 1 to ${MAX_DURATION}, not '${value}'`, valueAt);
      options.maxDuration = n;
    } else if (name === 'transfer') {
      const known = { true: true, false: false, phones: 'phones' } as const;
      if (!Object.hasOwn(known, value)) s.fail(`transfer must be true, phones or false, not '${value}'`, valueAt);
      options.transfer = known[value as keyof typeof known];
    } else {
      s.fail(`unknown option '${name}' (known: timeout, delay, callerId, maxDuration, transfer)`, nameAt);
    }
    s.skipSpace();
    const c = s.peek();
    s.pos++;
    if (c === ']') return options;
    if (c !== ',') s.fail(c === undefined ? `missing ']'` : `expected ',' or ']' but found '${c}'`, s.pos - 1);
  }
}

/** Parses a dial string; throws DialStringError with the column of the first problem. */
export function parseDialString(input: string, defaults: PartialOptions = {}): DialSpec {
  if (input.length > MAX_DIAL_STRING) throw new DialStringError(`longer than ${MAX_DIAL_STRING} characters`, MAX_DIAL_STRING + 1);
  const s = new Scanner(input);
  const groups: DialLeg[][] = [[]];
  for (;;) {
    s.skipSpace();
    const target = parseTarget(s);
    s.skipSpace();
    const own = parseOptions(s);
    groups.at(-1)?.push(leg(target, withDefaults(own, defaults)));
    s.skipSpace();
    const op = s.peek();
    if (op === undefined) return { groups };
    if (op === '|') groups.push([]);
    else if (op !== '&') s.fail(`expected '&', '|' or end of string but found '${op}'`);
    s.pos++;
  }
}

function parseSingleLeg(input: string, defaults: PartialOptions): DialLeg {
  const spec = parseDialString(input, defaults);
  const only = spec.groups.length === 1 && spec.groups[0]?.length === 1 ? spec.groups[0][0] : undefined;
  if (!only) throw new Error(`invalid dial target: '${input}' must be a single leg inside a list (no & or |)`);
  return only;
}

const structuredLeg = z.union([
  z.string(),
  z.strictObject({ account: z.string().regex(NAME, 'not a valid account name'), ...optionShapes }),
  z.strictObject({
    number: z.string().regex(NUMBER, 'not a number'),
    provider: z.string().regex(NAME, 'not a valid provider name'),
    ...optionShapes,
  }),
  z.strictObject({
    uri: z
      .string()
      .regex(/^sips?:\S+$/i, 'not a SIP URI')
      .max(512),
    ...optionShapes,
  }),
]);
type StructuredLeg = z.infer<typeof structuredLeg>;

const group = z.array(structuredLeg).min(1, 'a group needs at least one leg');
const dialTarget = z.union([z.string(), group, z.strictObject({ groups: z.array(group).min(1, 'at least one group'), ...optionShapes })]);
const dialOptions = z.strictObject(optionShapes).nullish();

function fromStructured(entry: StructuredLeg, defaults: PartialOptions): DialLeg {
  if (typeof entry === 'string') return parseSingleLeg(entry, defaults);
  const { timeout, delay, callerId, maxDuration, headers, transfer } = entry;
  const options = withDefaults({ timeout, delay, callerId, maxDuration, headers, transfer }, defaults);
  if ('account' in entry) return leg({ kind: 'account', account: entry.account }, options);
  if ('number' in entry) return leg({ kind: 'provider', number: entry.number, provider: entry.provider }, options);
  return leg({ kind: 'uri', uri: entry.uri }, options);
}

/**
 * Turns what a script passed to `dial(target, options)` into a DialSpec. Both arguments come from
 * tenant code; anything malformed throws an Error whose message is meant for the tenant.
 */
export function toDialSpec(target: unknown, options: unknown): DialSpec {
  const parsedOptions = dialOptions.safeParse(options);
  if (!parsedOptions.success) throw new Error(`invalid dial options: ${z.prettifyError(parsedOptions.error)}`);
  const defaults: PartialOptions = parsedOptions.data ?? {};
  const parsed = dialTarget.safeParse(target);
  if (!parsed.success) {
    throw new Error(`invalid dial target (expected a dial string, an array of legs or {groups}): ${z.prettifyError(parsed.error)}`);
  }
  const value = parsed.data;
  if (typeof value === 'string') return parseDialString(value, defaults);
  if (Array.isArray(value)) return { groups: [value.map((e) => fromStructured(e, defaults))] };
  const { groups, timeout, delay, callerId, maxDuration, headers, transfer } = value;
  const merged: PartialOptions = { ...defaults };
  if (timeout !== undefined) merged.timeout = timeout;
  if (delay !== undefined) merged.delay = delay;
  if (callerId !== undefined) merged.callerId = callerId;
  if (maxDuration !== undefined) merged.maxDuration = maxDuration;
  if (headers !== undefined) merged.headers = headers;
  if (transfer !== undefined) merged.transfer = transfer;
  return { groups: groups.map((g) => g.map((e) => fromStructured(e, merged))) };
}

export function legCount(spec: DialSpec): number {
  return spec.groups.reduce((n, g) => n + g.length, 0);
}

/** The longest a dial can take: each group rings until its slowest leg gives up. */
export function maxDialSeconds(spec: DialSpec): number {
  return spec.groups.reduce((total, g) => total + Math.max(...g.map((l) => l.options.delay + l.options.timeout)), 0);
}
