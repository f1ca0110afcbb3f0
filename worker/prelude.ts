/**
 * Code run in every fresh context before the tenant's dialplan. It is compiled together with the
 * dialplan (`executable`), once per isolate and dialplan, never per context (compiling it anew in
 * each context cost 0.6 ms, more than creating the context), and running that script in a fresh
 * context is the whole execution: its completion value is a promise of the result JSON.
 *
 * It installs the sandbox API as plain in-context functions. The host Reference lives only in
 * this closure, never where user code can reach it: a Reference's constructor is isolated-vm's
 * class, so a reachable one would be an escape hatch. The worker hands over the per-execution
 * values (host Reference, call facts, time zone) as a global set just before the script runs, in
 * the same isolate-thread wake-up; the prelude takes and deletes it before any user code exists in
 * the context. (Passing them as arguments of a set-up function instead cost a second task per
 * execution: one to run the script and get that function, one to apply it.) Strict mode keeps
 * these frames out of `caller` and of structured stack traces (`getThis`/`getFunction` return
 * undefined for strict functions).
 *
 * User code runs after this and can replace any built-in, so everything used later (JSON, Error,
 * Object.freeze, String) is captured now, and every isolated-vm options object has a null
 * prototype: otherwise a getter planted on Object.prototype (say `reference`) would change how
 * results cross the boundary.
 *
 * Arguments and results cross as JSON strings: the server validates them anyway, and strings need
 * no structured-clone rules. A host reply is `{ok, value}` or `{ok: false, message}` and is turned
 * into a rejection here, because a host function that itself rejects trips Node's unhandled-
 * rejection check before isolated-vm attaches its handler.
 *
 * The one host Reference serves host operations, `(op, argsJson) => Promise<replyJson>`, and log
 * lines, `('log', level, message)` applied synchronously: one Reference to transfer into each
 * context instead of two.
 */

/** The global through which the worker hands an execution's values to the prelude. */
export const SETUP_GLOBAL = '__dialplanSetup';

export interface PreludeLimits {
  maxHostOps: number;
  maxLogLines: number;
  maxLogChars: number;
}

const prelude = (limits: PreludeLimits) => String.raw`(function (dialplan) {
'use strict';
const g = globalThis;
const setup = g.${SETUP_GLOBAL};
delete g.${SETUP_GLOBAL};
const host = setup[0], callData = setup[1], timeZone = setup[2];
const limits = ${JSON.stringify(limits)};
const { stringify, parse } = JSON;
const freeze = Object.freeze, defineProperty = Object.defineProperty, keysOf = Object.keys;
const ErrorCtor = Error, StringCtor = String, DateCtor = Date, DateTimeFormat = Intl.DateTimeFormat;

// Shared memory would allow Atomics.wait, a block that burns no CPU the watchdog could see.
delete g.SharedArrayBuffer;
delete g.Atomics;
delete g.WebAssembly;

const callOptions = freeze({
  __proto__: null,
  arguments: freeze({ __proto__: null, copy: true }),
  result: freeze({ __proto__: null, promise: true, copy: true }),
});
const logOptions = freeze({ __proto__: null, arguments: freeze({ __proto__: null, copy: true }) });

let hostOps = 0;
async function hostCall(op, args) {
  // Past the cap, calls fail here without reaching the host, so a loop of un-awaited calls ends as
  // a CPU-budget breach instead of a flood of IPC messages.
  if (++hostOps > limits.maxHostOps) throw new ErrorCtor('too many host operations in one execution (limit ' + limits.maxHostOps + ')');
  const reply = parse(await host.apply(undefined, [op, stringify(args)], callOptions));
  if (!reply.ok) throw new ErrorCtor(reply.message);
  return reply.value;
}

function format(value) {
  if (typeof value === 'string') return value;
  try {
    const json = stringify(value);
    if (json !== undefined) return json;
  } catch {}
  try { return StringCtor(value); } catch { return '[unprintable]'; }
}

let logLines = 0;
function logAt(level, args) {
  if (logLines >= limits.maxLogLines) return;
  logLines += 1;
  let message = logLines === limits.maxLogLines ? '[log limit reached; further lines dropped]' : '';
  if (!message) {
    for (let i = 0; i < args.length; i++) message += (i ? ' ' : '') + format(args[i]);
    if (message.length > limits.maxLogChars) message = message.slice(0, limits.maxLogChars) + '…';
  }
  // Synchronous, so a line always reaches the host before the execution's result does.
  host.applySync(undefined, ['log', level, message], logOptions);
}

const WEEKDAYS = freeze({ __proto__: null, Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 });
let clock; // built lazily: an Intl formatter costs more than a whole typical execution
function now() {
  clock ??= new DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', weekday: 'short', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'longOffset',
  });
  const p = { __proto__: null };
  for (const part of clock.formatToParts(new DateCtor())) p[part.type] = part.value;
  const offset = p.timeZoneName === 'GMT' ? '+00:00' : StringCtor(p.timeZoneName).slice(3);
  const date = p.year + '-' + p.month + '-' + p.day;
  return freeze({
    iso: date + 'T' + p.hour + ':' + p.minute + ':' + p.second + offset,
    date, hour: +p.hour, minute: +p.minute, weekday: WEEKDAYS[p.weekday], timeZone,
  });
}

function deepFreeze(value) {
  if (value && typeof value === 'object') {
    for (const key of keysOf(value)) deepFreeze(value[key]);
    freeze(value);
  }
  return value;
}
const call = deepFreeze(callData);

const api = {
  call,
  dial: (target, options) => hostCall('dial', [target, options]),
  respond: async (status, reason) => { await hostCall('respond', [status, reason]); },
  log: (...args) => logAt('info', args),
  registrations: (user) => hostCall('registrations', [user]),
  now,
  store: freeze({
    get: (key) => hostCall('store.get', [key]),
    set: async (key, value) => { await hostCall('store.set', [key, value]); },
    delete: (key) => hostCall('store.delete', [key]),
    keys: (prefix) => hostCall('store.keys', [prefix]),
  }),
  console: freeze({
    log: (...args) => logAt('info', args),
    info: (...args) => logAt('info', args),
    debug: (...args) => logAt('debug', args),
    warn: (...args) => logAt('warn', args),
    error: (...args) => logAt('error', args),
  }),
};
for (const name of keysOf(api)) {
  defineProperty(g, name, { value: freeze(api[name]), writable: false, enumerable: false, configurable: false });
}

function describe(error) {
  try {
    if (error instanceof ErrorCtor) {
      return { ok: false, message: StringCtor(error.name) + ': ' + StringCtor(error.message), stack: StringCtor(error.stack) };
    }
    return { ok: false, message: 'Uncaught ' + format(error), stack: '' };
  } catch {
    return { ok: false, message: 'Uncaught exception (unprintable)', stack: '' };
  }
}

// The dialplan's top level runs only now, after everything above is captured and installed.
return (async function start() {
  let result;
  try {
    const main = await dialplan();
    if (typeof main !== 'function') {
      result = { ok: false, message: 'a dialplan must export a default function: export default async function (call) { … }', stack: '' };
    } else {
      await main(call);
      result = { ok: true };
    }
  } catch (error) {
    result = describe(error);
  }
  return stringify(result);
})();
})
`;

/**
 * The script run in each execution's fresh context: the prepared dialplan (its wrapper starts on
 * line 0, so the tenant's lines keep their numbers) and, after it, the prelude, as two sibling
 * function expressions: the dialplan cannot see the prelude's closure. Running it hands the
 * wrapper to the prelude, which installs the API and then calls it; its completion value is the
 * promise of the result JSON. Prelude frames are in `dialplan.js` too, below the tenant's last
 * line (`locate` skips them).
 */
export function executable(preparedCode: string, limits: PreludeLimits): string {
  return `((dialplan, setup) => setup(dialplan))(${preparedCode},\n${prelude(limits)})`;
}
