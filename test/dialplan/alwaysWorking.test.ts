/**
 * A tenant always has a working dialplan: a source that cannot handle a call (a syntax error, an
 * empty one, one without a default export) is refused with its line and column on every path that
 * makes a version current (create, save, restore of an old version), and the last good version
 * keeps serving. A random walk of saves and restores checks that no sequence gets around it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { signUp, type ApiClient, type ApiResponse } from '../helpers/api.ts';
import { DIALECTS, skipUnless } from '../helpers/databases.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { fakeHost, request } from './helpers.ts';

const good = (n: number) => `export default async function (call) {\n  log('version ${n} for ' + call.to.user);\n}\n`;

/** Sources a tenant might save that can never handle a call, and where the refusal points. */
const BAD: Array<{ name: string; source: string; line: number; column: number; message: RegExp }> = [
  { name: 'a syntax error', source: 'export default async function (call) {\n  log("x");\n  const = 5;\n}\n', line: 3, column: 9, message: /SyntaxError/ },
  { name: 'empty', source: '', line: 1, column: 1, message: /the dialplan is empty/ },
  { name: 'only white space', source: '  \n\t\n', line: 1, column: 1, message: /the dialplan is empty/ },
  { name: 'only comments', source: '// todo\n/* later */\n', line: 1, column: 1, message: /must export a default function/ },
  { name: 'a named export only', source: 'export async function main(call) {}\n', line: 1, column: 1, message: /must export a default function/ },
  { name: 'no export at all', source: 'async function main(call) {}\n', line: 1, column: 1, message: /must export a default function/ },
  { name: 'an unclosed function', source: 'export default async function (call) {\n  log("x");\n', line: 3, column: 1, message: /SyntaxError/ },
];

/** A small deterministic generator, so a failing walk can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

for (const dialect of DIALECTS) {
  describe(`a tenant always has a working dialplan [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    let sw: TestSwitch;
    let api: ApiClient;
    let tenantId: string;
    before(async () => {
      sw = await startTestSwitch(dialect);
      api = await signUp(sw.httpUrl);
      tenantId = (await api.get('/me')).body.tenant.id;
    });
    after(async () => {
      await sw.close();
    });

    /** The current version must compile and run a call through the engine to its end. */
    async function assertServes(name: string, expected: string) {
      const current = await sw.running.store.tenant(tenantId).dialplans.current(name);
      assert.equal(current?.source, expected, `${name}: the last good version is current`);
      const result = await sw.running.dialplans.run(request(tenantId, current.source), fakeHost(tenantId));
      assert.equal(result.outcome, 'completed', JSON.stringify(result.error));
    }

    for (const bad of BAD) {
      test(`${bad.name} is refused with its line and column when created, saved, and checked; nothing changes`, async () => {
        const name = `refused-${BAD.indexOf(bad)}`;
        const created = await api.post('/dialplans', { name, source: bad.source });
        assert.equal(created.status, 400, JSON.stringify(created.body));
        assert.deepEqual([created.body.field, created.body.line, created.body.column], ['source', bad.line, bad.column]);
        assert.match(created.body.error, new RegExp(`^source: line ${bad.line}, column ${bad.column}: `));
        assert.match(created.body.compileError, bad.message);
        assert.equal((await api.get(`/dialplans/${name}`)).status, 404);

        assert.equal((await api.request('PUT', `/dialplans/${name}`, { source: good(1) })).status, 201);
        const saved = await api.request('PUT', `/dialplans/${name}`, { source: bad.source });
        assert.equal(saved.status, 400);
        assert.deepEqual([saved.body.line, saved.body.column], [bad.line, bad.column]);
        assert.deepEqual(
          (await api.get(`/dialplans/${name}`)).body.versions.map((v: { version: number }) => v.version),
          [1],
        );
        await assertServes(name, good(1));

        // The editor's check says the same as saving would, without saving.
        const checked = await api.post('/dialplans/compile', { source: bad.source });
        assert.equal(checked.status, 200);
        assert.deepEqual([checked.body.ok, checked.body.line, checked.body.column], [false, bad.line, bad.column]);
        assert.match(checked.body.message, bad.message);
      });
    }

    test('the check accepts what saving accepts', async () => {
      assert.deepEqual((await api.post('/dialplans/compile', { source: good(1) })).body, { ok: true });
      assert.equal((await api.post('/dialplans/compile', {})).status, 400);
    });

    test('an old version that does not compile (saved before these checks) cannot be restored', async () => {
      // Written to the store directly: the API would refuse it.
      const dialplans = sw.running.store.tenant(tenantId).dialplans;
      await dialplans.save('legacy', good(1));
      await dialplans.save('legacy', '');
      await dialplans.save('legacy', good(3));
      const restored = await api.post('/dialplans/legacy/restore', { version: 2 });
      assert.equal(restored.status, 400, JSON.stringify(restored.body));
      assert.match(restored.body.error, /^version 2 cannot be made current: line 1, column 1: the dialplan is empty/);
      assert.equal(restored.body.line, 1);
      await assertServes('legacy', good(3));
      assert.equal((await api.post('/dialplans/legacy/restore', { version: 1 })).status, 200);
      await assertServes('legacy', good(1));
    });

    test('no walk of saves and restores, good and bad, leaves a current version that does not run', async () => {
      const random = prng(dialect === 'sqlite' ? 1 : 2);
      const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)] as T;
      const name = 'walk';
      let current: string | null = null;
      let versions = 0;
      const saved: string[] = [];
      for (let step = 0; step < 40; step++) {
        const move = random();
        if (move < 0.45) {
          const source = random() < 0.5 ? good(step) : pick(BAD).source;
          const r: ApiResponse = current === null ? await api.post('/dialplans', { name, source }) : await api.request('PUT', `/dialplans/${name}`, { source });
          if (BAD.some((b) => b.source === source)) {
            assert.equal(r.status, 400, `step ${step}: a bad source was accepted`);
          } else {
            assert.ok(r.status === 200 || r.status === 201, `step ${step}: ${r.status} ${JSON.stringify(r.body)}`);
            current = source;
            versions += 1;
            saved.push(source);
          }
        } else if (versions > 0) {
          const version = 1 + Math.floor(random() * (versions + 1));
          const r = await api.post(`/dialplans/${name}/restore`, { version });
          if (version > versions) {
            assert.equal(r.status, 404, `step ${step}: restoring a version that does not exist`);
          } else {
            assert.equal(r.status, 200, `step ${step}: ${JSON.stringify(r.body)}`);
            current = saved[version - 1] ?? null;
            versions += 1;
            saved.push(current ?? '');
          }
        }
        if (current !== null) await assertServes(name, current);
      }
      assert.ok(versions > 5, `the walk made ${versions} versions`);
    });
  });
}
