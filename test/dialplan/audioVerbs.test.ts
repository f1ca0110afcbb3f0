/**
 * The audio verbs in real sandboxes, through the simulator (the test run the portal offers): a
 * menu reads the digits given, a closed-hours announcement, voicemail; the rules (answer first,
 * nothing after hang-up, hang-up before answer declines with 603) and validated arguments.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { PooledDialplanRunner } from '../../server/dialplan/runner.ts';
import { simulate } from '../../server/dialplan/simulate.ts';
import { elapse } from '../helpers/time.ts';
import { fakeHost, request, startRunner } from './helpers.ts';

const strip = (actions: Array<{ at: number }>) => actions.map(({ at: _at, ...rest }) => rest);

describe('dialplan audio verbs, in the simulator', { timeout: 60_000 }, () => {
  let runner: PooledDialplanRunner;
  before(async () => {
    runner = await startRunner();
  });
  after(async () => runner?.stop());

  const menu = `export default async function () {
    await answer();
    const choice = await collect({ digits: 1, timeout: 5, prompt: 'menu' });
    log('pressed', choice);
    if (choice === '1') return dial('sales');
    if (choice === '2') return dial('support');
    await play('busy', { repeat: 3 });
    await hangup();
  }`;

  test('a menu: the digit given leads to its branch, and the run shows what the caller heard', async () => {
    const two = await simulate(runner, { tenantId: 't1', source: menu, digits: '2', outcomes: { support: 'answered' }, prompts: ['menu'] });
    assert.equal(two.outcome, 'completed', JSON.stringify(two.error));
    assert.deepEqual(strip(two.actions).slice(0, 2), [{ type: 'answer' }, { type: 'collect', digits: '2', prompt: 'menu' }]);
    assert.equal(two.actions[2]?.type, 'dial');
    assert.deepEqual(
      two.logs.map((l) => l.message),
      ['pressed 2'],
    );
    const none = await simulate(runner, { tenantId: 't1', source: menu, prompts: ['menu'] });
    assert.deepEqual(strip(none.actions), [{ type: 'answer' }, { type: 'collect', digits: '', prompt: 'menu' }, { type: 'play', sound: 'busy', repeat: 3 }, { type: 'hangup' }]);
  });

  test('digits are taken in order by successive collects', async () => {
    const r = await simulate(runner, {
      tenantId: 't1',
      digits: '12345#',
      source: `export default async function () { await answer(); log(await collect({ digits: 4, timeout: 3 }), await collect({ digits: 4, timeout: 3 }), await collect({ digits: 1, timeout: 3 })); }`,
    });
    assert.deepEqual(
      r.logs.map((l) => l.message),
      ['1234 5# '],
    );
  });

  test('voicemail: record returns the recording', async () => {
    const r = await simulate(runner, {
      tenantId: 't1',
      prompts: ['leave-a-message'],
      source: `export default async function () { await answer(); await play('leave-a-message'); const rec = await record({ maxSeconds: 30 }); log(rec.id); await hangup(); }`,
    });
    assert.equal(r.outcome, 'completed', JSON.stringify(r.error));
    assert.deepEqual(
      r.actions.map((a) => a.type),
      ['answer', 'play', 'record', 'hangup'],
    );
    assert.deepEqual(
      r.logs.map((l) => l.message),
      ['simulated-recording'],
    );
  });

  test('hangup before answer declines the call with 603; nothing about the call works after it', async () => {
    const r = await simulate(runner, {
      tenantId: 't1',
      source: `export default async function () { await hangup(); await hangup(); try { await answer(); } catch (e) { log(e.message); } try { await dial('x'); } catch (e) { log(e.message); } }`,
    });
    assert.equal(r.outcome, 'responded', JSON.stringify(r.error));
    assert.deepEqual(strip(r.actions), [{ type: 'respond', status: 603, reason: 'Decline' }, { type: 'hangup' }]);
    assert.deepEqual(
      r.logs.map((l) => l.message),
      ['the call was hung up', 'the call was hung up'],
    );
  });

  test('the rules: answer first; no respond after answer; a prompt the tenant lacks; arguments checked', async () => {
    const r = await simulate(runner, {
      tenantId: 't1',
      prompts: ['menu'],
      source: `export default async function () {
        const tryIt = async (f) => { try { await f(); log('ok'); } catch (e) { log(e.message); } };
        await tryIt(() => play('menu'));
        await answer();
        await tryIt(() => respond(486));
        await tryIt(() => play('nope'));
        await tryIt(() => play('../etc/passwd'));
        await tryIt(() => collect({ digits: 0, timeout: 5 }));
        await tryIt(() => record({ maxSeconds: 99999 }));
        await tryIt(() => play('menu', { repeat: 2 }));
      }`,
    });
    assert.equal(r.outcome, 'completed', JSON.stringify(r.error));
    const lines = r.logs.map((l) => l.message);
    assert.equal(lines[0], 'play: answer() the call first');
    assert.equal(lines[1], 'respond: the call was already answered (answer())');
    assert.equal(lines[2], 'play: there is no prompt named nope');
    assert.match(lines[3]!, /invalid arguments to play: .*a sound is a built-in tone/s);
    assert.match(lines[4]!, /invalid arguments to collect/);
    assert.match(lines[5]!, /invalid arguments to record/);
    assert.equal(lines[6], 'ok');
  });

  test('a call the dialplan answered is not ended by the first-dial deadline while it plays', async () => {
    const slow = await startRunner({ limits: { firstDialMs: 300 } });
    const played: string[] = [];
    const host = fakeHost('t2');
    host.audio = {
      answer: async () => {},
      // A prompt that lasts longer than the deadline: the host's play resolves when it has played.
      play: async (sound) => {
        await elapse(600);
        played.push(JSON.stringify(sound));
      },
      collect: async () => '',
      record: async () => ({ id: 'r', durationMs: 0 }),
      hangup: async () => {},
    };
    try {
      const answered = await slow.run(request('t2', `export default async function () { await answer(); await play('welcome'); }`), host);
      assert.equal(answered.outcome, 'completed', JSON.stringify(answered.error));
      assert.deepEqual(played, ['{"prompt":"welcome"}']);
      // Without answer(), as long a wait leaves a caller ringing: the deadline ends it.
      host.registrations = async () => {
        await elapse(600);
        return [];
      };
      const ringing = await slow.run(request('t2', `export default async function () { await registrations('x'); }`), host);
      assert.equal(ringing.outcome, 'timeout');
    } finally {
      await slow.stop();
    }
  });
});
