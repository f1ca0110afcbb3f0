import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PooledDialplanRunner } from '../../server/dialplan/runner.ts';
import { simulate } from '../../server/dialplan/simulate.ts';
import type { JsonValue } from '../../server/dialplan/types.ts';
import { fakeHost, request, startRunner, TenantStores } from './helpers.ts';

describe('dialplan executions', () => {
  let runner: PooledDialplanRunner;
  before(async () => {
    runner = await startRunner({ workers: 1 });
  });
  after(() => runner.stop());

  it('runs a normal dialplan: dials, responds and logs', async () => {
    const source = `export default async function (call) {
      log('call', call.from.user, '->', call.to.user);
      const r = await dial('alice & bob | 0123@mytrunk', { timeout: 20 });
      console.warn('dial result', r);
      if (!r.answered) return respond(480, 'Nobody home');
    }`;
    const host = fakeHost('t-normal');
    const result = await runner.run(request('t-normal', source), host);
    assert.equal(result.outcome, 'responded');
    assert.deepEqual(
      result.actions.map((a) => a.type),
      ['dial', 'respond'],
    );
    const [dialAction, respondAction] = result.actions;
    assert.equal(dialAction?.type === 'dial' && dialAction.spec.groups.map((g) => g.map((l) => l.target)).join('|'), 'alice,bob|0123@mytrunk');
    assert.deepEqual(respondAction?.type === 'respond' && [respondAction.status, respondAction.reason], [480, 'Nobody home']);
    assert.deepEqual(host.responses, [{ status: 480, reason: 'Nobody home' }]);
    assert.deepEqual(
      result.logs.map((l) => [l.level, l.message]),
      [
        ['info', 'call +4930111 -> alice'],
        ['warn', 'dial result {"answered":false,"result":"no-answer"}'],
      ],
    );
    assert.equal(host.logged.length, 2);
    assert.ok(result.wallMs > 0 && result.cpuMs >= 0);
  });

  it('completes without a response when a dial was answered', async () => {
    const host = fakeHost('t-answer', undefined, async (spec) => ({ answered: true, result: 'answered', sipStatus: 200, target: spec.groups[0]?.[0]?.target ?? '' }));
    const result = await runner.run(
      request('t-answer', `export default async function () { const r = await dial('alice'); log(r.target); await respond(486).catch((e) => log(e.message)); }`),
      host,
    );
    assert.equal(result.outcome, 'completed');
    assert.deepEqual(
      result.logs.map((l) => l.message),
      ['alice', 'respond: the call was already answered by a dial'],
    );
  });

  it('reports a thrown error with its message and position', async () => {
    const result = await runner.run(
      request('t-throw', `export default async function () {\n  await log('x');\n  throw new RangeError('no route for this number');\n}`),
      fakeHost('t-throw'),
    );
    assert.equal(result.outcome, 'error');
    assert.deepEqual(result.error, { message: 'RangeError: no route for this number', line: 3, column: 9 });
    const nonError = await runner.run(request('t-throw', `export default async function () { throw { code: 42 } }`), fakeHost('t-throw'));
    assert.deepEqual(nonError.error, { message: 'Uncaught {"code":42}' });
    const noDefault = await runner.run(request('t-throw', `export const x = 1;`), fakeHost('t-throw'));
    assert.match(noDefault.error?.message ?? '', /must export a default function/);
  });

  it('compile() reports syntax errors with line and column, and refuses imports', async () => {
    assert.deepEqual(await runner.compile('export default async function (call) {\n  if (call.to.user === ) {}\n}'), {
      ok: false,
      message: "SyntaxError: Unexpected token ')'",
      line: 2,
      column: 24,
    });
    assert.deepEqual(await runner.compile('export default async function () { await dial("alice") }'), { ok: true });
    const withImport = await runner.compile("\nimport fs from 'node:fs';\nexport default async function () {}");
    assert.equal(withImport.ok, false);
    assert.deepEqual(withImport.ok === false && [withImport.message, withImport.line], ["imports are not available in dialplans (import 'node:fs')", 2]);
    const run = await runner.run(request('t-compile', "import fs from 'node:fs';\nexport default async function () {}"), fakeHost('t-compile'));
    assert.equal(run.outcome, 'error');
    assert.match(run.error?.message ?? '', /imports are not available/);
    const syntax = await runner.run(request('t-compile', 'export default async function () {\n  let = ;\n}'), fakeHost('t-compile'));
    assert.deepEqual([syntax.outcome, syntax.error?.line], ['error', 2]);
  });

  it('gives the script its store, registrations, frozen call facts and local time', async () => {
    const stores = new TenantStores();
    stores.of('t-api').set('blocked:+4930111', true);
    const source = `export default async function (call) {
      if (await store.get('blocked:' + call.from.user)) log('blocked');
      await store.set('seen:' + call.from.user, { count: 1 });
      log(JSON.stringify(await store.keys('seen:')));
      log(await store.delete('blocked:' + call.from.user));
      log((await registrations('alice'))[0].contact);
      const t = now();
      log(t.timeZone, typeof t.hour, /^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}[+-]\\d{2}:\\d{2}$/.test(t.iso), t.weekday >= 0 && t.weekday <= 6);
      try { call.from.user = 'x'; } catch (e) { log(e.constructor.name); }
      log(Object.isFrozen(call.headers), globalThis.call === call);
      await store.set('k'.repeat(300), 1).catch((e) => log(e.message.split(':')[0]));
    }`;
    const result = await runner.run(request('t-api', source, { timeZone: 'America/New_York' }), fakeHost('t-api', stores));
    assert.equal(result.outcome, 'completed', JSON.stringify(result.error));
    assert.deepEqual(
      result.logs.map((l) => l.message),
      ['blocked', '["seen:+4930111"]', 'true', 'sip:alice@192.0.2.10:5060', 'America/New_York number true true', 'TypeError', 'true true', 'invalid arguments to store.set'],
    );
    assert.deepEqual(stores.of('t-api').get('seen:+4930111'), { count: 1 });
    assert.deepEqual(
      result.actions.map((a) => a.type),
      ['store.set', 'store.delete'],
    );
  });

  it('validates what the script passes to dial and enforces the leg limit', async () => {
    const source = `export default async function () {
      for (const target of ['alice &', 'bob@not-a-number', { groups: [] }]) {
        try { await dial(target); } catch (e) { log(e.message); }
      }
      const many = Array.from({ length: 21 }, (_, i) => ({ account: 'u' + i }));
      try { await dial(many); } catch (e) { log(e.message); }
    }`;
    const host = fakeHost('t-dial');
    const result = await runner.run(request('t-dial', source), host);
    assert.equal(result.outcome, 'completed');
    assert.equal(host.dials.length, 0);
    const [a, b, c, d] = result.logs.map((l) => l.message);
    assert.match(a ?? '', /invalid dial string: expected an account.* at column 8/);
    assert.match(b ?? '', /'bob' is not a number/);
    assert.match(c ?? '', /at least one group/);
    assert.match(d ?? '', /too many legs \(0 used, 21 more requested, limit 20/);
  });

  it('simulates a dialplan against described outcomes without placing calls', async () => {
    const store = new Map<string, JsonValue>([['mobile', '+4917012345']]);
    const source = `export default async function (call) {
      const r = await dial('alice & bob');
      log('phones:', r.result);
      if (r.answered) return;
      const m = await dial(await store.get('mobile') + '@mytrunk');
      log('mobile:', m.result, m.target);
      await store.set('last-caller', call.from.user);
    }`;
    const result = await simulate(runner, {
      tenantId: 't-sim',
      source,
      call: { from: { user: '+4930555', host: 'x', uri: 'sip:+4930555@x' } },
      outcomes: { alice: 'busy', '+4917012345@mytrunk': 'answered' },
      store,
    });
    assert.equal(result.outcome, 'completed');
    assert.deepEqual(
      result.logs.map((l) => l.message),
      ['phones: busy', 'mobile: answered +4917012345@mytrunk'],
    );
    assert.deepEqual(
      result.actions.map((a) => a.type),
      ['dial', 'dial', 'store.set'],
    );
    assert.equal(store.get('last-caller'), '+4930555');
  });
});
