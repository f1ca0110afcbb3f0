/** The editor's gallery: every example compiles, and each does what its summary says (simulated, no calls placed). */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DIALPLAN_EXAMPLES } from '../../contract/dialplanExamples.ts';
import { writeWav } from '../../server/media/audio/wav.ts';
import { signUp, type ApiClient } from '../helpers/api.ts';
import { tone } from '../media/audioSignal.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

const example = (id: string) => DIALPLAN_EXAMPLES.find((e) => e.id === id)!.source;

interface Simulation {
  outcome: string;
  actions: Array<{ type: string; status?: number; result?: { answered: boolean; target?: string } }>;
  logs: Array<{ message: string }>;
}

describe('dialplan examples (sqlite)', () => {
  let sw: TestSwitch;
  let api: ApiClient;
  before(async () => {
    sw = await startTestSwitch('sqlite');
    api = await signUp(sw.httpUrl);
  });
  after(async () => {
    await sw.close();
  });
  const simulate = async (source: string, body: Record<string, unknown>) => {
    const r = await api.post<Simulation>('/dialplans/default/simulate', { source, ...body });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };
  const did = (s: Simulation) => s.actions.map((a) => (a.type === 'dial' ? `dial ${a.result!.answered ? a.result!.target : 'failed'}` : `${a.type} ${a.status}`));

  test('every example compiles, with a unique id', async () => {
    assert.equal(new Set(DIALPLAN_EXAMPLES.map((e) => e.id)).size, DIALPLAN_EXAMPLES.length);
    for (const e of DIALPLAN_EXAMPLES) assert.deepEqual((await api.post('/dialplans/compile', { source: e.source })).body, { ok: true }, e.id);
  });

  test('ring group: 200 rings the team at once; another number rings that phone', async () => {
    assert.deepEqual(did(await simulate(example('ring-group'), { call: { to: { user: '200' } }, outcomes: { '101': 'answered' } })), ['dial 101']);
    assert.deepEqual(did(await simulate(example('ring-group'), { call: { to: { user: '102' } }, outcomes: { '102': 'answered', '101': 'answered' } })), ['dial 102']);
  });

  test('menu: 1 rings sales, 2 rings the support group, no choice leaves a message', async () => {
    // The example's prompts, as a tenant uploads them on the Prompts page.
    for (const name of ['menu', 'leave-a-message'])
      assert.equal((await api.request('PUT', `/prompts/${name}`, writeWav(tone(440, 500)), { 'content-type': 'audio/wav' })).status, 201);
    const menu = (digits: string, outcomes: Record<string, string>) => simulate(example('menu'), { call: { direction: 'in', to: { user: '0301234' } }, digits, outcomes });
    const kinds = (s: Simulation) => s.actions.map((a) => a.type);
    const one = await menu('1', { '100': 'answered' });
    assert.deepEqual(kinds(one), ['answer', 'collect', 'dial']);
    assert.deepEqual(did(one).at(-1), 'dial 100');
    const two = await menu('2', { '102': 'answered' });
    assert.deepEqual(did(two).at(-1), 'dial 102');
    const none = await menu('', {});
    assert.deepEqual(kinds(none), ['answer', 'collect', 'play', 'record', 'hangup']);
    assert.ok(none.logs.some((l) => l.message === 'menu: no choice'));
  });

  test('office hours: provider calls ring the office when open and hear 480 when closed (by the tenant clock)', async () => {
    const t = new Date();
    const open = t.getUTCDay() >= 1 && t.getUTCDay() <= 5 && t.getUTCHours() >= 9 && t.getUTCHours() < 17;
    const s = await simulate(example('office-hours'), { call: { direction: 'in', to: { user: '0301234' } }, outcomes: { '100': 'answered' } });
    assert.deepEqual(did(s), open ? ['dial 100'] : ['respond 480']);
  });

  test('blocklist: a number kept under block: is refused, others ring', async () => {
    const me = (await api.get('/me')).body;
    await sw.running.store.tenant(me.tenant.id).kv.set('block:+15550000', true);
    assert.deepEqual(did(await simulate(example('blocklist'), { call: { direction: 'in', from: { user: '+15550000' } } })), ['respond 403']);
    assert.deepEqual(did(await simulate(example('blocklist'), { call: { direction: 'in', from: { user: '+15559999' } }, outcomes: { '100': 'answered' } })), ['dial 100']);
  });

  test('failover: the backup provider is tried when the main one fails', async () => {
    const s = await simulate(example('failover'), { call: { to: { user: '0301234567' } }, outcomes: { '0301234567@main': 'unavailable', '0301234567@backup': 'answered' } });
    assert.deepEqual(did(s), ['dial 0301234567@backup']);
    assert.deepEqual(
      s.logs.map((l) => l.message),
      ['out: answered'],
    );
  });
});
