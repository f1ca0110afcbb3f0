import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { selectDialplan } from '../../server/dialplan/selection.ts';
import { createSipAccount, signUp, type ApiClient } from '../helpers/api.ts';
import { DIALECTS, skipUnless } from '../helpers/databases.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

const RING_BOTH = `export default async function (call) {
  log('call from ' + call.from.user);
  const r = await dial('alice & bob', { timeout: 20 });
  if (!r.answered) return respond(480, 'Nobody home');
}
`;

for (const dialect of DIALECTS) {
  describe(`dialplans API [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    let sw: TestSwitch;
    let api: ApiClient;
    before(async () => {
      sw = await startTestSwitch(dialect);
      api = await signUp(sw.httpUrl);
    });
    after(async () => {
      await sw.close();
    });

    test('a syntax error is refused with its line and column, and nothing is saved', async () => {
      const r = await api.post('/dialplans', { name: 'broken', source: 'export default async function (call) {\n  log("x");\n  const = 5;\n}\n' });
      assert.equal(r.status, 400);
      assert.equal(r.body.field, 'source');
      assert.equal(r.body.line, 3);
      assert.equal(r.body.column, 9);
      assert.match(r.body.error, /^source: line 3, column 9: /);
      assert.equal((await api.get('/dialplans/broken')).status, 404);
    });

    test('versions: create, save again, read an old one, restore it as a new version', async () => {
      assert.equal((await api.post('/dialplans', { name: 'main', source: RING_BOTH })).status, 201);
      assert.equal((await api.post('/dialplans', { name: 'main', source: RING_BOTH })).status, 409);
      const v2 = await api.request('PUT', '/dialplans/main', { source: `${RING_BOTH}// v2\n` });
      assert.deepEqual([v2.status, v2.body.version], [200, 2]);
      const got = (await api.get('/dialplans/main')).body;
      assert.equal(got.version, 2);
      assert.match(got.source, /\/\/ v2/);
      assert.deepEqual(
        got.versions.map((v: { version: number }) => v.version),
        [2, 1],
      );
      assert.equal((await api.get('/dialplans/main/versions/1')).body.source, RING_BOTH);
      const restored = await api.post('/dialplans/main/restore', { version: 1 });
      assert.deepEqual([restored.body.version, restored.body.restoredFrom], [3, 1]);
      assert.equal((await api.get('/dialplans/main')).body.source, RING_BOTH);
      assert.deepEqual(
        (await api.get('/dialplans')).body.items.map((d: { name: string; version: number }) => [d.name, d.version]),
        [
          ['default', 1],
          ['main', 3],
        ],
      );
      const created = await api.request('PUT', '/dialplans/other', { source: RING_BOTH });
      assert.deepEqual([created.status, created.body.version], [201, 1]);
    });

    test('names are validated', async () => {
      const r = await api.post('/dialplans', { name: 'Has Spaces', source: RING_BOTH });
      assert.equal(r.status, 400);
      assert.equal(r.body.field, 'name');
    });

    test('simulate: the dial and its faked outcome, the log, without placing calls', async () => {
      await api.request('PUT', '/dialplans/ring', { source: RING_BOTH });
      const r = await api.post('/dialplans/ring/simulate', {
        call: { from: { user: '+15551234' }, to: { user: 'reception' } },
        outcomes: { alice: 'busy', bob: 'answered' },
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.outcome, 'completed');
      const dial = r.body.actions.find((a: { type: string }) => a.type === 'dial');
      assert.equal(dial.result.answered, true);
      assert.equal(dial.result.target, 'bob');
      assert.deepEqual(
        r.body.logs.map((l: { message: string }) => l.message),
        ['call from +15551234'],
      );

      const nobody = await api.post('/dialplans/ring/simulate', { outcomes: { alice: 'busy', bob: 'no-answer' } });
      assert.deepEqual(
        nobody.body.actions.map((a: { type: string }) => a.type),
        ['dial', 'respond'],
      );
      assert.equal(nobody.body.actions[1].status, 480);
    });

    test('simulate: a leg the switch would refuse (a number abroad, calls abroad off) fails with 403 and says why', async () => {
      const t = await signUp(sw.httpUrl);
      assert.equal((await t.patch('/settings', { country: 'DE' })).status, 200);
      const source = `export default async function (call) {\n  const r = await dial('00442071234567@trunk | 0301234567@trunk');\n  log('dial ' + r.result + ' ' + r.target);\n}\n`;
      const outcomes = { '00442071234567@trunk': 'answered', '0301234567@trunk': 'answered' };
      const off = await t.post('/dialplans/x/simulate', { source, outcomes });
      assert.equal(off.status, 200, JSON.stringify(off.body));
      assert.deepEqual(
        off.body.logs.map((l: { level: string; message: string }) => `${l.level} ${l.message}`),
        ['warn 00442071234567@trunk: 00442071234567 is outside DE and international calls are off; turn them on in Settings', 'info dial answered 0301234567@trunk'],
      );
      assert.equal((await t.patch('/settings', { internationalCalls: true })).status, 200);
      const on = await t.post('/dialplans/x/simulate', { source, outcomes });
      assert.deepEqual(
        on.body.logs.map((l: { message: string }) => l.message),
        ['dial answered 00442071234567@trunk'],
      );
    });

    test('simulate reads the real store but its writes stay in the simulation', async () => {
      const me = (await api.get('/me')).body;
      await sw.running.store.tenant(me.tenant.id).kv.set('block:+15550000', true);
      const source = `export default async function (call) {
  if (await store.get('block:' + call.from.user)) return respond(403, 'Blocked');
  await store.set('seen:' + call.from.user, true);
  return respond(404);
}`;
      const blocked = await api.post('/dialplans/x/simulate', { source, call: { from: { user: '+15550000' } } });
      assert.equal(blocked.status, 200, JSON.stringify(blocked.body));
      assert.deepEqual(
        blocked.body.actions.map((a: { type: string; status?: number }) => [a.type, a.status]),
        [['respond', 403]],
      );
      const other = await api.post('/dialplans/x/simulate', { source, call: { from: { user: '+15559999' } } });
      assert.deepEqual(
        other.body.actions.map((a: { type: string }) => a.type),
        ['store.set', 'respond'],
      );
      assert.equal(await sw.running.store.tenant(me.tenant.id).kv.get('seen:+15559999'), undefined, 'not persisted');
    });

    test('simulate reports a runtime error with its line', async () => {
      const r = await api.post('/dialplans/x/simulate', { source: 'export default async function () {\n  null.x;\n}\n' });
      assert.equal(r.body.outcome, 'error');
      assert.equal(r.body.error.line, 2);
    });

    test('accounts name their dialplans; they must exist; one in use cannot be deleted', async () => {
      await api.request('PUT', '/dialplans/outbound', { source: RING_BOTH });
      const bad = await api.post('/sip-accounts', { username: `dp${Date.now().toString(36)}`, password: 'Ferry-Lantern-Quartz-8', dialplanOut: 'nope' });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.field, 'dialplanOut');
      const acct = await createSipAccount(api, { dialplanOut: 'outbound' });
      assert.equal((await api.get(`/sip-accounts/${acct.id}`)).body.dialplanOut, 'outbound');
      const del = await api.delete('/dialplans/outbound');
      assert.equal(del.status, 409);
      assert.match(del.body.error, new RegExp(acct.username));
      assert.equal((await api.patch(`/sip-accounts/${acct.id}`, { dialplanOut: null })).status, 200);
      assert.equal((await api.delete('/dialplans/outbound')).status, 204);
      assert.equal((await api.get('/dialplans/outbound')).status, 404);
    });

    test("another tenant's dialplans are 404", async () => {
      const other = await signUp(sw.httpUrl);
      await api.request('PUT', '/dialplans/secret', { source: RING_BOTH });
      assert.equal((await other.get('/dialplans/secret')).status, 404);
      assert.equal((await other.get('/dialplans/secret/versions/1')).status, 404);
      assert.equal((await other.post('/dialplans/secret/simulate', {})).status, 404);
      assert.equal((await other.post('/dialplans/secret/restore', { version: 1 })).status, 404);
      assert.equal((await other.delete('/dialplans/secret')).status, 404);
      assert.deepEqual(
        (await other.get('/dialplans')).body.items.map((d: { name: string }) => d.name),
        ['default'],
        'only the default it got at sign-up',
      );
      assert.equal((await api.get('/dialplans/secret')).status, 200);
    });

    test("which dialplan runs: the account's, else default; the callee's, else none; a deleted one falls back", async () => {
      const t = await signUp(sw.httpUrl);
      const scope = sw.running.store.tenant((await t.get('/me')).body.tenant.id);
      const acct = await createSipAccount(t);
      const account = (await scope.sipAccounts.get(acct.id))!;
      const atSignUp = await selectDialplan(scope, { kind: 'account', account });
      assert.deepEqual([atSignUp?.name, atSignUp?.version], ['default', 1], 'the default stored at sign-up');
      assert.equal((await t.delete('/dialplans/default')).status, 204);
      assert.equal(await selectDialplan(scope, { kind: 'account', account }), null, 'no dialplan at all once it is deleted');
      await t.request('PUT', '/dialplans/default', { source: RING_BOTH });
      await t.request('PUT', '/dialplans/mine', { source: `${RING_BOTH}// mine\n` });
      assert.equal((await selectDialplan(scope, { kind: 'account', account }))!.name, 'default');
      assert.equal((await selectDialplan(scope, { kind: 'account', account: { ...account, dialplanOut: 'mine' } }))!.name, 'mine');
      assert.equal((await selectDialplan(scope, { kind: 'account', account: { ...account, dialplanOut: 'gone' } }))!.name, 'default');
      assert.equal(await selectDialplan(scope, { kind: 'to-account', callee: account }), null, 'ring the phones');
      assert.equal((await selectDialplan(scope, { kind: 'to-account', callee: { ...account, dialplanIn: 'mine' } }))!.name, 'mine');
      assert.equal((await selectDialplan(scope, { kind: 'provider', dialplan: null }))!.name, 'default');
      const chosen = (await selectDialplan(scope, { kind: 'provider', dialplan: 'mine' }))!;
      assert.equal(chosen.version, 1);
      assert.match(chosen.source, /\/\/ mine/);
    });
  });
}
