import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PooledDialplanRunner } from '../../server/dialplan/runner.ts';
import type { DialResult } from '../../server/dialplan/types.ts';
import { baseCall, fakeHost, request, startRunner, TenantStores } from './helpers.ts';

/** Runs a script whose last log line is a JSON report, and returns the parsed report. */
async function probe(runner: PooledDialplanRunner, tenantId: string, body: string, stores?: TenantStores): Promise<Record<string, unknown>> {
  const source = `export default async function (call) {\n const r = {};\n ${body}\n log(JSON.stringify(r));\n}`;
  const result = await runner.run(request(tenantId, source), fakeHost(tenantId, stores));
  assert.equal(result.outcome, 'completed', JSON.stringify(result.error));
  const report = result.logs.at(-1)?.message ?? '{}';
  if (process.env.DEBUG_PROBE) console.log(report.slice(0, 3000));
  return JSON.parse(report) as Record<string, unknown>;
}

const IVM_CLASSES = ['Reference', 'ExternalCopy', 'Isolate', 'Context', 'Callback', 'Module', 'Script', 'Copy', 'Dereference'];

describe('sandbox isolation', () => {
  let runner: PooledDialplanRunner;
  before(async () => {
    runner = await startRunner({ workers: 1, limits: { firstDialMs: 3000 } });
  });
  after(() => runner.stop());

  it('offers no Node globals, timers, WebAssembly or shared memory', async () => {
    const names = [
      'process',
      'require',
      'module',
      'exports',
      '__dirname',
      'Buffer',
      'setTimeout',
      'setInterval',
      'setImmediate',
      'queueMicrotask',
      'fetch',
      'WebAssembly',
      'SharedArrayBuffer',
      'Atomics',
      'FinalizationRegistry',
      'ivm',
      '_ivm',
      'global',
    ];
    const report = await probe(runner, 't-esc', `for (const n of ${JSON.stringify(names)}) r[n] = typeof globalThis[n];`);
    assert.deepEqual(report, Object.fromEntries(names.map((n) => [n, 'undefined'])));
  });

  it('keeps host constructors, import() and require out of reach', async () => {
    const report = await probe(
      runner,
      't-esc',
      `
      const attempt = (name, f) => { try { r[name] = f(); } catch (e) { r[name] = 'threw ' + e.constructor.name; } };
      attempt('dialCtor', () => dial.constructor('return typeof process')());
      attempt('callCtor', () => call.constructor.constructor('return typeof process')());
      attempt('protoCtor', () => Object.getPrototypeOf(store.get).constructor('return typeof require')());
      attempt('asyncCtor', () => typeof Object.getPrototypeOf(async () => {}).constructor('return process'));
      attempt('sameGlobal', () => dial.constructor('return this')() === globalThis);
      attempt('nowCtor', () => now().constructor.constructor('return typeof process')());
      attempt('errorCtor', () => { try { null.x } catch (e) { return e.constructor.constructor('return typeof process')() } });
      attempt('caller', () => { function f() { return f.caller; } return String(f()); });
      try { await import('node:fs'); r.dynamicImport = 'loaded'; } catch (e) { r.dynamicImport = 'rejected'; }
      try { await dial.constructor('return import("fs")')(); r.importViaCtor = 'loaded'; } catch (e) { r.importViaCtor = 'rejected'; }
      `,
    );
    assert.deepEqual(report, {
      dialCtor: 'undefined',
      callCtor: 'undefined',
      protoCtor: 'undefined',
      asyncCtor: 'function',
      sameGlobal: true,
      nowCtor: 'undefined',
      errorCtor: 'undefined',
      caller: 'threw TypeError',
      dynamicImport: 'rejected',
      importViaCtor: 'rejected',
    });
  });

  it('exposes no isolated-vm object anywhere user code can walk, even through stack frames', async () => {
    const report = await probe(
      runner,
      't-esc',
      `
      const bad = ${JSON.stringify(IVM_CLASSES)};
      const seen = new Set(); const found = [];
      const visit = (v, path, depth) => {
        if (v === null || (typeof v !== 'object' && typeof v !== 'function') || seen.has(v) || depth > 4) return;
        seen.add(v);
        let name = '';
        try { name = v.constructor && v.constructor.name; } catch {}
        if (bad.includes(name) || /Reference|ExternalCopy/.test(Object.prototype.toString.call(v))) found.push(path);
        for (const key of Reflect.ownKeys(v)) {
          let child; try { child = v[key]; } catch { continue; }
          visit(child, path + '.' + String(key), depth + 1);
        }
        visit(Object.getPrototypeOf(v), path + '.__proto__', depth + 1);
      };
      visit(globalThis, 'globalThis', 0);
      visit(now(), 'now()', 0);
      visit(await registrations('alice'), 'registrations', 0);
      r.found = found;
      r.walked = seen.size > 100;
      Error.prepareStackTrace = (e, frames) => frames.map((f) => {
        let kind = typeof f.getThis();
        try { const t = f.getThis(); if (t && bad.includes(t.constructor.name)) kind = 'IVM ' + t.constructor.name; } catch {}
        const fn = f.getFunction();
        return kind + '/' + (fn ? (String(fn).includes('host.apply') ? 'PRELUDE' : 'user') : 'hidden');
      });
      try { await store.set('k', { toJSON() { throw new Error('inner'); } }); } catch (e) { r.frames = e.stack; }
      `,
    );
    assert.deepEqual(report.found, []);
    assert.equal(report.walked, true);
    const frames = report.frames as string[];
    assert.ok(Array.isArray(frames) && frames.length > 0);
    assert.ok(
      frames.every((f) => !f.startsWith('IVM') && !f.endsWith('PRELUDE')),
      frames.join(', '),
    );
  });

  it("keeps each tenant's and each version's globals, prototypes and store apart", async () => {
    const stores = new TenantStores();
    const polluter = `export default async function () {
      globalThis.secret = 'A'; Object.prototype.polluted = 'A'; Array.prototype.push = () => 'hijacked';
      JSON.stringify = () => 'hijacked'; await store.set('pin', '1234');
    }`;
    const polluted = await runner.run(request('t-a', polluter), fakeHost('t-a', stores));
    assert.equal(polluted.outcome, 'completed', JSON.stringify(polluted.error));
    const inspect = `
      r.secret = typeof secret; r.polluted = ({}).polluted ?? null; r.push = [].push(1);
      r.stringifyOk = JSON.stringify([1]) === '[1]'; r.pin = (await store.get('pin')) ?? null;
      r.keys = await store.keys();`;
    assert.deepEqual(await probe(runner, 't-b', inspect, stores), { secret: 'undefined', polluted: null, push: 1, stringifyOk: true, pin: null, keys: [] });
    assert.deepEqual(await probe(runner, 't-a', inspect, stores), { secret: 'undefined', polluted: null, push: 1, stringifyOk: true, pin: '1234', keys: ['pin'] });
    assert.deepEqual([...stores.of('t-b').keys()], []);
  });

  it('never lets executions running at the same time share a context, while reusing contexts after them', async () => {
    // Each execution marks the context as its own, waits on the host, and checks the mark is still its own.
    const source = `let runs = 0;
    export default async function (call) {
      runs += 1;
      globalThis.owner = call.id;
      await store.get('k');
      log(globalThis.owner === call.id, runs);
    }`;
    const results = [];
    for (let round = 0; round < 4; round++) {
      const together = Array.from({ length: 5 }, (_, i) => request('t-together', source, { call: { ...baseCall, id: `call-${round}-${i}` } }));
      results.push(...(await Promise.all(together.map((r) => runner.run(r, fakeHost('t-together'))))));
    }
    assert.deepEqual(
      results.map((r) => [r.outcome, r.logs[0]?.message.split(' ')[0]]),
      Array.from({ length: 20 }, () => ['completed', 'true']),
    );
    const runs = results.map((r) => Number(r.logs[0]?.message.split(' ')[1]));
    assert.deepEqual(runs.slice(0, 5), [1, 1, 1, 1, 1], 'the first five each needed a context');
    assert.ok(
      runs.some((n) => n > 1),
      `contexts were reused: ${runs.join(',')}`,
    );
  });

  it("runs tenants in distinct isolates: one tenant's heap exhaustion or busy loop leaves another's execution alive", async () => {
    let release!: (r: DialResult) => void;
    const held = new Promise<DialResult>((resolve) => (release = resolve));
    let ringing!: () => void;
    const started = new Promise<void>((resolve) => (ringing = resolve));
    const victimHost = fakeHost('t-victim', undefined, () => (ringing(), held));
    const victim = runner.run(
      request('t-victim', 'export default async function () { globalThis.mine = 1; const r = await dial("alice"); log(r.result, typeof mine); }'),
      victimHost,
    );
    await started;
    const hog = await runner.run(
      request(
        't-hog',
        `export default async function () {
        await dial('x'); const hoard = [];
        for (let n = 0; n < 10000; n++) { for (let i = 0; i < 2000; i++) hoard.push({ i, s: 'y'.repeat(64) + i }); await store.get('k'); }
      }`,
      ),
      fakeHost('t-hog'),
    );
    assert.equal(hog.outcome, 'memory');
    const loop = await runner.run(request('t-hog', 'export default async function () { for (;;) {} }'), fakeHost('t-hog'));
    assert.equal(loop.outcome, 'timeout');
    release({ answered: false, result: 'busy' });
    const survived = await victim;
    assert.equal(survived.outcome, 'completed');
    assert.deepEqual(
      survived.logs.map((l) => l.message),
      ['busy number'],
    );
  });
});
