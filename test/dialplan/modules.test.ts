import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PooledDialplanRunner } from '../../server/dialplan/runner.ts';
import { fakeHost, request, startRunner } from './helpers.ts';

const REFUSED = 'import.meta is not available in dialplans';

/** `import.meta` spelt every way the grammar allows, and where V8 reports it (at `meta`). */
const IMPORT_META: Array<{ name: string; source: string; line: number; column: number }> = [
  { name: 'plain, in the default function', source: 'export default async function () {\n  log(import.meta.url);\n}', line: 2, column: 14 },
  { name: 'with spaces', source: 'export default async function () {\n  log(import . meta);\n}', line: 2, column: 16 },
  { name: 'with a comment between', source: 'export default async function () {\n  log(import/**/.meta);\n}', line: 2, column: 18 },
  { name: 'across lines', source: 'export default async function () {\n  log(import\n    .\n    meta);\n}', line: 4, column: 5 },
  { name: 'in a nested function', source: 'function f() {\n  return () => { return import.meta; };\n}\nexport default async function () { log(f()()); }', line: 2, column: 32 },
  { name: 'at the top level', source: 'const m = import.meta;\nexport default async function () {}', line: 1, column: 18 },
  {
    name: 'after a comment containing backticks',
    source: '// a `template` that never closes: `\nexport default async function () {\n  /* and ` here */ log(import.meta);\n}',
    line: 3,
    column: 31,
  },
  { name: 'inside a template substitution', source: 'export default async function () {\n  log(`${import.meta.url}`);\n}', line: 2, column: 17 },
  { name: 'after a regular expression with quotes', source: 'export default async function () {\n  const re = /\'`"/g; log(re, import.meta);\n}', line: 2, column: 37 },
  { name: 'in a default parameter', source: 'export default async function (call, m = import.meta) { log(m); }', line: 1, column: 49 },
];

/** The text `import.meta` where it is not syntax: all of these must run. */
const HARMLESS = `export default async function () {
  // import.meta in a line comment
  /* import.meta in a block comment */
  const s = 'import.meta' + "import.meta";
  const t = \`import.meta \${'import.meta'} \\\`import.meta\\\`\`;
  const re = /import.meta/;
  const o = { import: { meta: 1 } };
  log(s.length, t, re.test('import.meta'), o.import.meta);
}`;

describe('dialplans never use the module system', () => {
  let runner: PooledDialplanRunner;
  before(async () => {
    runner = await startRunner({ workers: 2, limits: { tenantConcurrency: 200 } });
  });
  after(() => runner.stop());

  for (const { name, source, line, column } of IMPORT_META) {
    it(`refuses import.meta ${name}, at save and at run time`, async () => {
      assert.deepEqual(await runner.compile(source), { ok: false, message: REFUSED, line, column });
      const result = await runner.run(request('t-meta', source), fakeHost('t-meta'));
      assert.equal(result.outcome, 'error');
      assert.deepEqual(result.error, { message: REFUSED, line, column });
    });
  }

  it('accepts the text import.meta in comments, strings, templates and regular expressions', async () => {
    assert.deepEqual(await runner.compile(HARMLESS), { ok: true });
    const result = await runner.run(request('t-meta', HARMLESS), fakeHost('t-meta'));
    assert.equal(result.outcome, 'completed', JSON.stringify(result.error));
    assert.deepEqual(
      result.logs.map((l) => l.message),
      ['22 import.meta import.meta `import.meta` true 1'],
    );
  });

  it('refuses import.meta and import() in code built at run time', async () => {
    const source = `export default async function () {
      const tries = {
        functionCtor: () => new Function('return import.meta')(),
        eval: () => (0, eval)('import.meta'),
        directEval: () => eval('import.meta'),
      };
      for (const [name, f] of Object.entries(tries)) {
        try { f(); log(name, 'ran'); } catch (e) { log(name, e.constructor.name); }
      }
      try { await new Function('return import("x")')(); log('import ran'); } catch (e) { log('import', e.message); }
    }`;
    const result = await runner.run(request('t-meta', source), fakeHost('t-meta'));
    assert.equal(result.outcome, 'completed', JSON.stringify(result.error));
    assert.deepEqual(
      result.logs.map((l) => l.message),
      ['functionCtor SyntaxError', 'eval SyntaxError', 'directEval SyntaxError', 'import Not supported'],
    );
  });

  it('runs every form of default export, with named exports beside it, keeping positions', async () => {
    const forms = [
      'export default function main(call) { log(typeof main, call.to.user); }',
      'export default function* () {}\nexport const x = 1;',
      'export const greeting = "hi";\nexport function helper() { return greeting; }\nexport default async (call) => log(helper(), call.to.user);',
      'export /* a */ default /* b */ async /* c */ function /* d */ (call) { log(call.to.user); }',
      'export default (call) => log(call.to.user)\n;[1].forEach((n) => log(n));',
      'export default async function (call) { log(call.to.user); }\n[1].forEach((n) => log("after", n));',
      'export default {\n  async handler() {}\n}.handler;',
      'let calls = 0;\nexport default async function () { calls++; log(calls); }\nawait store.get("warm-up");',
      'export\ndefault\nasync function () { log("split"); }',
    ];
    const logs = [];
    for (const source of forms) {
      const compiled = await runner.compile(source);
      const result = await runner.run(request('t-forms', source), fakeHost('t-forms'));
      const outcome = result.outcome === 'completed' ? 'ok' : `${result.outcome}: ${result.error?.message}`;
      logs.push([compiled.ok, outcome, result.logs.map((l) => l.message).join(',')]);
    }
    assert.deepEqual(logs, [
      [true, 'ok', 'function alice'],
      [true, 'ok', ''],
      [true, 'ok', 'hi alice'],
      [true, 'ok', 'alice'],
      [true, 'ok', '1,alice'],
      [true, 'ok', 'after 1,alice'],
      [true, 'ok', ''],
      [true, 'ok', '1'],
      [true, 'ok', 'split'],
    ]);
  });

  it('reports positions on the export line and refuses export lists', async () => {
    const onExportLine = await runner.run(request('t-forms', 'export default async function (call) { null.x; }'), fakeHost('t-forms'));
    assert.deepEqual(onExportLine.error, { message: "TypeError: Cannot read properties of null (reading 'x')", line: 1, column: 45 });
    const list = 'async function main() {}\nexport { main as default };';
    assert.deepEqual(await runner.compile(list), {
      ok: false,
      message: 'export lists are not supported in dialplans: use `export default`',
      line: 2,
      column: 1,
    });
    const nested = await runner.compile('export default async function () {\n  if (1) { export const x = 1; }\n}');
    assert.equal(nested.ok, false);
    assert.equal(nested.ok === false && nested.line, 2);
  });

  it('survives a flood of concurrent import.meta, import() and ordinary executions without losing a worker', async () => {
    const pids = runner.stats().workers.map((w) => w.pid);
    const ordinary = 'export default async function (call) { await store.get("k"); log("ok"); }';
    const dynamicImport = 'export default async function () { try { await import("node:fs"); log("loaded"); } catch { log("refused"); } }';
    const jobs: Array<Promise<string>> = [];
    for (let i = 0; i < 600; i++) {
      const tenant = `t-flood-${i % 8}`;
      const attempt = IMPORT_META[i % IMPORT_META.length] as (typeof IMPORT_META)[number];
      // A fresh source each time: nothing can be answered from a cache.
      const variant = `\n// ${i}`;
      switch (i % 4) {
        case 0:
          jobs.push(runner.run(request(tenant, attempt.source + variant), fakeHost(tenant)).then((r) => `${r.outcome} ${r.error?.message}`));
          break;
        case 1:
          jobs.push(runner.compile(attempt.source + variant).then((r) => (r.ok ? 'compiled' : `error ${r.message}`)));
          break;
        case 2:
          jobs.push(runner.run(request(tenant, dynamicImport + variant), fakeHost(tenant)).then((r) => `${r.outcome} ${r.logs[0]?.message}`));
          break;
        default:
          jobs.push(runner.run(request(tenant, ordinary), fakeHost(tenant)).then((r) => `${r.outcome} ${r.logs[0]?.message}`));
      }
    }
    const outcomes = new Map<string, number>();
    for (const o of await Promise.all(jobs)) outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries(outcomes), {
      [`error ${REFUSED}`]: 300,
      'completed refused': 150,
      'completed ok': 150,
    });
    assert.deepEqual(
      runner.stats().workers.map((w) => w.pid),
      pids,
      'no worker was replaced',
    );
  });
});
