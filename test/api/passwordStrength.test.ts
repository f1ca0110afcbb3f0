/**
 * The password strength check (zxcvbn) is bounded and runs off the event loop: a 200-character
 * password built to be slow for it (l33t substitutions, repeated) once held the event loop, and so
 * every SIP transaction of the switch, for over a second.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { passwordWeakness } from '../../server/api/passwords.ts';
import { ApiClient, uniqueEmail } from '../helpers/api.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

const SLOW_FOR_ZXCVBN = 'p@$$w0rd'.repeat(25);

/** Counts event-loop turns, and the longest wait between two, while `work` runs. */
async function loopTurnsDuring<T>(work: () => Promise<T>): Promise<{ result: T; turns: number; longestGapMs: number }> {
  let turns = 0;
  let longestGapMs = 0;
  let last = performance.now();
  let spinning = true;
  const spin = () => {
    if (!spinning) return;
    const now = performance.now();
    longestGapMs = Math.max(longestGapMs, now - last);
    last = now;
    turns++;
    setImmediate(spin);
  };
  setImmediate(spin);
  try {
    return { result: await work(), turns, longestGapMs };
  } finally {
    spinning = false;
  }
}

describe('password strength check', () => {
  test('a 200-character password is judged without holding the event loop', async () => {
    assert.equal(SLOW_FOR_ZXCVBN.length, 200);
    const { result, turns, longestGapMs } = await loopTurnsDuring(() => passwordWeakness(SLOW_FOR_ZXCVBN, ['me@example.com']));
    assert.match(result ?? '', /too easy to guess/);
    assert.ok(turns > 0, 'the event loop went on while the password was checked');
    assert.ok(longestGapMs < 1000, `the event loop stood still for ${Math.round(longestGapMs)} ms`);
  });

  test('what it judges is unchanged: strong passes, weak and context words fail, length bounds', async () => {
    assert.equal(await passwordWeakness('Plum-Orbit-Cascade-91'), undefined);
    assert.equal(await passwordWeakness('Ferry-Lantern-Quartz-8', ['someone@example.com']), undefined);
    assert.match((await passwordWeakness('password1234')) ?? '', /too easy to guess/);
    assert.match((await passwordWeakness('alicealice2024', ['alice'])) ?? '', /too easy to guess/);
    assert.match((await passwordWeakness('short')) ?? '', /at least 10/);
    assert.match((await passwordWeakness('x'.repeat(201))) ?? '', /at most 200/);
    // Long and random: strong however much of it is scored.
    const long = Array.from({ length: 200 }, (_, i) => 'Kq7#vR2m!Zp9@Lx4'.charAt((i * 7 + (i >> 3)) % 16)).join('');
    assert.equal(await passwordWeakness(long), undefined);
  });

  test('checks beyond the queue are refused with a 503 to retry, not queued without end', async () => {
    // Asked for in one go, before the worker can answer any of them.
    const outcomes = await Promise.allSettled(Array.from({ length: 100 }, (_, i) => passwordWeakness(`Plum-Orbit-Cascade-${i}`)));
    const refused = outcomes.filter((o) => o.status === 'rejected');
    assert.ok(refused.length > 0, 'some checks were refused');
    for (const o of refused) assert.match(String((o as PromiseRejectedResult).reason.message), /try again/);
    assert.equal((refused[0] as PromiseRejectedResult).reason.status, 503);
    assert.ok(
      outcomes.some((o) => o.status === 'fulfilled'),
      'the queued ones were answered',
    );
    // And the checker is still there afterwards.
    assert.equal(await passwordWeakness('Plum-Orbit-Cascade-91'), undefined);
  });
});

describe('password strength over HTTP', () => {
  let sw: TestSwitch;
  before(async () => {
    sw = await startTestSwitch('sqlite');
  });
  after(async () => {
    await sw.close();
  });

  test('sign-up with a 200-character password answers, and the switch keeps serving meanwhile', async () => {
    const api = new ApiClient(sw.httpUrl);
    const { result, turns } = await loopTurnsDuring(() => api.post('/auth/signup', { email: uniqueEmail(), password: SLOW_FOR_ZXCVBN }));
    assert.equal(result.status, 400);
    assert.equal(result.body.field, 'password');
    assert.ok(turns > 0);
  });
});
