import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { busiestThreadMs, threadsOver } from '../../worker/cpuClock.ts';

describe('busiest thread since a slice began', () => {
  it('counts only what the known threads ran since the baseline', () => {
    assert.equal(
      busiestThreadMs(
        new Map([
          [10, 100],
          [11, 50],
        ]),
        new Map([
          [10, 130],
          [11, 60],
        ]),
      ),
      30,
    );
  });

  it('counts all the CPU of a thread that started after the baseline', () => {
    // isolated-vm runs an isolate on a new short-lived thread when its pool threads are busy; a
    // busy loop there (4.5 s here, as seen under load) was counted as 0 and never stopped.
    const baseline = new Map([
      [10, 100],
      [11, 50],
    ]);
    const now = new Map([
      [10, 120],
      [11, 60],
      [12, 4474],
    ]);
    assert.equal(busiestThreadMs(baseline, now), 4474);
  });
});

describe('threads over a budget', () => {
  it('names the threads that ran more than the budget, new ones with all their CPU', () => {
    const baseline = new Map([
      [10, 100],
      [11, 50],
    ]);
    const now = new Map([
      [10, 180],
      [11, 60],
      [12, 75],
    ]);
    assert.deepEqual([...threadsOver(baseline, now, 50)], [10, 12]);
    assert.equal(busiestThreadMs(baseline, now, new Set([11, 12])), 75, 'only among the named threads');
  });
});
