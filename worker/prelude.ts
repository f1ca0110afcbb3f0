/**
 * Code that turns a context into a warm context for one dialplan version. It is compiled together
 * with the dialplan (`executable`), once per isolate and version, never per context (compiling it
 * anew in each context cost 0.6 ms, more than creating the context). Running that script in a
 * new context runs no tenant code at all: it captures the built-ins it needs, installs the sandbox
 * API, and its completion value is `start`, the function the worker calls for each execution
 * with that execution's host Reference, call facts and time zone (one isolate task per execution).
 * The dialplan's top level runs inside the first execution's `start`, once per context; later
 * executions call the default export it left behind. See server/dialplan/README.md, "Warm contexts".
 *
 * Per execution, everything that belongs to a call is fresh: the call facts (a deep-frozen copy),
 * the host Reference (a new one each time, released when the execution ends), the host-operation
 * and log-line counters, the time zone. The global API (`dial`, `store`, `log`, …, and `call`) is
 * installed once per context and reaches the execution running now, of which there is at most one
 * per context; with none, or at the top level, it refuses. Code of an ended execution never runs
 * again: a reply to one of its host calls that arrives after its end leaves the awaiting promise
 * pending for good (the prelude parks it), so it can neither act for the next execution in this
 * context nor read its answers. Nothing else can run code later: there are no timers, and
 * FinalizationRegistry, whose callbacks V8 schedules on its own, is removed.
 *
 * The host Reference lives only in this closure, never where user code can reach it: a
 * Reference's constructor is isolated-vm's class, so a reachable one would be an escape hatch.
 * Strict mode keeps these frames out of `caller` and of structured stack traces
 * (`getThis`/`getFunction` return undefined for strict functions).
 *
 * User code runs after this and can replace any built-in, and in a warm context what it changes
 * stays for the next execution of the same version, so everything used later (JSON, Error,
 * Object.freeze, String, Promise) is captured now, and every isolated-vm options object has a null
 * prototype: otherwise a getter planted on Object.prototype (say `reference`) would change how
 * results cross the boundary.
 *
 * Arguments and results cross as JSON strings: the server validates them anyway, and strings need
 * no structured-clone rules. A host reply is `{ok, value}` or `{ok: false, message}` and is turned
 * into a rejection here, because a host function that itself rejects trips Node's unhandled-
 * rejection check before isolated-vm attaches its handler.
 *
 * The one host Reference serves host operations, `(op, argsJson) => Promise<replyJson>`, and log
 * lines, `('log', level, message)` applied synchronously: one Reference to transfer per execution
 * instead of two.
 */

export interface PreludeLimits {
  maxHostOps: number;
  maxLogLines: number;
  maxLogChars: number;
}

const prelude = (limits: PreludeLimits) => String.raw`(function (dialplan) {
'use strict';
const g = globalThis;
const limits = ${JSON.stringify(limits)};
const { stringify, parse } = JSON;
const freeze = Object.freeze, defineProperty = Object.defineProperty, keysOf = Object.keys;
const ErrorCtor = Error, StringCtor = String, DateCtor = Date, DateTimeFormat = Intl.DateTimeFormat, PromiseCtor = Promise;

// Shared memory would allow Atomics.wait, a block that burns no CPU the watchdog could see.
delete g.SharedArrayBuffer;
delete g.Atomics;
delete g.WebAssembly;
// Its callbacks run when V8 decides, between executions or during another one.
delete g.FinalizationRegistry;

const callOptions = freeze({
  __proto__: null,
  arguments: freeze({ __proto__: null, copy: true }),
  result: freeze({ __proto__: null, promise: true, copy: true }),
});
const logOptions = freeze({ __proto__: null, arguments: freeze({ __proto__: null, copy: true }) });

/** The execution running in this context now, or null: there is never more than one. */
let current = null;
/** The dialplan's default export, once its top level has run (in the first execution here). */
let main = null;

/**
 * The running execution, for an API function. What is about one call (call, dial, respond)
 * is refused at the top level, which runs once for many calls: it would act on, or keep reading,
 * the call that happened to run it. Everything else there counts towards that execution.
 */
function running(what, ofTheCall) {
  const exec = current;
  if (exec === null) throw new ErrorCtor(what + ': the execution has ended');
  if (ofTheCall && exec.topLevel) {
    throw new ErrorCtor(what + ' is not available at the top level of a dialplan, which runs once for many calls: use it inside the default function');
  }
  return exec;
}

/** A host operation of the running execution; refusals reject, like any other failure. */
function hostOp(what, ofTheCall, args) {
  let exec;
  try {
    exec = running(what, ofTheCall);
  } catch (error) {
    return rejected(error);
  }
  return hostCall(exec, what, args);
}
async function rejected(error) {
  throw error;
}

async function hostCall(exec, op, args) {
  // Past the cap, calls fail here without reaching the host, so a loop of un-awaited calls ends as
  // a CPU-budget breach instead of a flood of IPC messages.
  if (++exec.hostOps > limits.maxHostOps) throw new ErrorCtor('too many host operations in one execution (limit ' + limits.maxHostOps + ')');
  const json = await exec.host.apply(undefined, [op, stringify(args)], callOptions);
  // Answered after its execution ended (perhaps while another runs here): nothing waiting on it
  // may run again, so it stays pending and is collected with whatever awaited it.
  if (exec.ended) return new PromiseCtor(() => {});
  const reply = parse(json);
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

/** Lines logged by the top level go to the execution that ran it. */
function logAt(level, args) {
  const exec = current;
  if (exec === null || exec.logLines >= limits.maxLogLines) return;
  exec.logLines += 1;
  let message = exec.logLines === limits.maxLogLines ? '[log limit reached; further lines dropped]' : '';
  if (!message) {
    for (let i = 0; i < args.length; i++) message += (i ? ' ' : '') + format(args[i]);
    if (message.length > limits.maxLogChars) message = message.slice(0, limits.maxLogChars) + '…';
  }
  // Synchronous, so a line always reaches the host before the execution's result does.
  exec.host.applySync(undefined, ['log', level, message], logOptions);
}

const WEEKDAYS = freeze({ __proto__: null, Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 });
let clock = null; // built lazily, and again only if the time zone changes: an Intl formatter costs more than a typical execution
function now() {
  const timeZone = running('now', false).timeZone;
  if (clock === null || clock.timeZone !== timeZone) {
    clock = { timeZone, format: new DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23', weekday: 'short', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'longOffset',
    }) };
  }
  const p = { __proto__: null };
  for (const part of clock.format.formatToParts(new DateCtor())) p[part.type] = part.value;
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

const api = {
  dial: (target, options) => hostOp('dial', true, [target, options]),
  respond: async (status, reason) => { await hostOp('respond', true, [status, reason]); },
  log: (...args) => logAt('info', args),
  registrations: (user) => hostOp('registrations', false, [user]),
  answer: async () => { await hostOp('answer', true, []); },
  play: async (sound, options) => { await hostOp('play', true, [sound, options]); },
  collect: (options) => hostOp('collect', true, [options]),
  record: (options) => hostOp('record', true, [options]),
  hangup: async () => { await hostOp('hangup', true, []); },
  now,
  store: freeze({
    get: (key) => hostOp('store.get', false, [key]),
    set: async (key, value) => { await hostOp('store.set', false, [key, value]); },
    delete: (key) => hostOp('store.delete', false, [key]),
    keys: (prefix) => hostOp('store.keys', false, [prefix]),
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
defineProperty(g, 'call', { get: freeze(() => running('call', true).call), enumerable: false, configurable: false });

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

async function run(exec) {
  let result;
  try {
    if (main === null) {
      // The top level runs now, once for this context, after everything above is captured and installed.
      exec.topLevel = true;
      let exported;
      try {
        exported = await dialplan();
      } finally {
        exec.topLevel = false;
      }
      if (typeof exported === 'function') main = exported;
    }
    if (main === null) {
      result = { ok: false, message: 'a dialplan must export a default function: export default async function (call) { … }', stack: '' };
    } else {
      await main(exec.call);
      result = { ok: true };
    }
  } catch (error) {
    result = describe(error);
  } finally {
    exec.ended = true;
    if (current === exec) current = null;
  }
  return stringify(result);
}

return function start(host, callData, timeZone) {
  if (current !== null) return PromiseCtor.resolve(stringify({ ok: false, message: 'internal error: the context is running another execution', stack: '' }));
  const exec = { __proto__: null, host, call: deepFreeze(callData), timeZone, hostOps: 0, logLines: 0, topLevel: false, ended: false };
  current = exec;
  return run(exec);
};
})
`;

/**
 * The script run once in each new context of a dialplan version: the prepared dialplan (its
 * wrapper starts on line 0, so the tenant's lines keep their numbers) and, after it, the prelude,
 * as two sibling function expressions: the dialplan cannot see the prelude's closure. Running it
 * hands the wrapper (not yet called: no tenant code runs) to the prelude, which installs the API;
 * its completion value is the prelude's `start`. Prelude frames are in `dialplan.js` too, below
 * the tenant's last line (`locate` skips them).
 */
export function executable(preparedCode: string, limits: PreludeLimits): string {
  return `((dialplan, setup) => setup(dialplan))(${preparedCode},\n${prelude(limits)})`;
}
