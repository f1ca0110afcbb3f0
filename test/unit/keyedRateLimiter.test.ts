import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyedRateLimiter } from '../../server/sip/keyedRateLimiter.ts';

test('a key gets its burst at once, then tokens at the rate; other keys are not affected', () => {
  const l = new KeyedRateLimiter({ burst: 3, perSecond: 2 });
  const t = 1_000_000;
  assert.deepEqual(
    [1, 2, 3, 4].map(() => l.take('a', t)),
    [true, true, true, false],
  );
  assert.equal(l.take('b', t), true, 'another key has its own bucket');
  assert.equal(l.retryAfterMs('a', t), 500);
  assert.equal(l.take('a', t + 499), false);
  assert.equal(l.take('a', t + 500), true, 'one token after 1/rate seconds');
  assert.equal(l.take('a', t + 500), false);
  // Idle long enough, the bucket is full again but never more than the burst.
  assert.deepEqual(
    [1, 2, 3, 4].map(() => l.take('a', t + 60_000)),
    [true, true, true, false],
  );
});

test('a refused take costs nothing: a key hammering an empty bucket still gets the rate', () => {
  const l = new KeyedRateLimiter({ burst: 1, perSecond: 10 });
  const t = 5_000;
  assert.equal(l.take('x', t), true);
  let granted = 0;
  for (let ms = 1; ms <= 1000; ms++) if (l.take('x', t + ms)) granted++;
  assert.equal(granted, 10);
});

test('memory stays bounded: past maxKeys, refilled buckets are forgotten first, then the oldest', () => {
  const l = new KeyedRateLimiter({ burst: 2, perSecond: 1, maxKeys: 100 });
  const t = 10_000;
  for (let i = 0; i < 100; i++) l.take(`k${i}`, t);
  assert.equal(l.trackedKeys, 100);
  // Two seconds on, every bucket has refilled: all are forgotten to make room.
  l.take('new', t + 2000);
  assert.equal(l.trackedKeys, 1);
  // All busy: the oldest tenth goes.
  for (let i = 0; i < 99; i++) l.take(`busy${i}`, t + 2000);
  assert.equal(l.trackedKeys, 100);
  l.take('one-more', t + 2000);
  assert.equal(l.trackedKeys, 91);
  // A kept key keeps its state (one of its two tokens left); a forgotten one starts afresh with two.
  assert.deepEqual([l.take('busy98', t + 2000), l.take('busy98', t + 2000)], [true, false]);
  assert.deepEqual([l.take('busy0', t + 2000), l.take('busy0', t + 2000)], [true, true]);
});
