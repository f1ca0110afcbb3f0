import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FairInbox } from '../../server/sip/fairInbox.ts';

const drained = (inbox: { size: number }) =>
  new Promise<void>((resolve) => {
    const check = () => (inbox.size === 0 ? resolve() : setImmediate(check));
    check();
  });

test('sources are served in turn: one with a full queue does not keep another waiting behind it', async () => {
  const handled: string[] = [];
  let dropped = 0;
  const inbox = new FairInbox<string>(
    { perSource: 100, total: 1000, sliceMs: 1000 },
    (x) => handled.push(x),
    () => dropped++,
  );
  for (let i = 0; i < 100; i++) inbox.push('10.0.0.1', `flood${i}`);
  inbox.push('10.0.0.2', 'phone');
  await drained(inbox);
  assert.equal(handled.indexOf('phone'), 1, 'served right after the first datagram of the flooding source');
  assert.equal(handled.length, 101);
  assert.equal(dropped, 0);
});

test("a source beyond its queue loses its own newest datagrams, not others'; the total is capped too", () => {
  let dropped = 0;
  const inbox = new FairInbox<number>(
    { perSource: 3, total: 5, sliceMs: 1 },
    () => {},
    () => dropped++,
  );
  for (let i = 0; i < 10; i++) inbox.push('10.0.0.1', i);
  assert.equal(inbox.size, 3);
  assert.equal(dropped, 7);
  inbox.push('10.0.0.2', 1);
  inbox.push('10.0.0.3', 1);
  inbox.push('10.0.0.4', 1);
  assert.equal(inbox.size, 5);
  assert.equal(dropped, 8);
  inbox.clear();
});

test('a drain yields to the event loop after its slice and carries on in the next turn', async () => {
  const handled: number[] = [];
  const inbox = new FairInbox<number>(
    { perSource: 1000, total: 1000, sliceMs: 0 },
    (x) => {
      handled.push(x);
    },
    () => {},
  );
  for (let i = 0; i < 100; i++) inbox.push('10.0.0.1', i);
  let turns = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      turns++;
      if (inbox.size === 0) resolve();
      else setImmediate(tick);
    };
    setImmediate(tick);
  });
  assert.deepEqual(
    handled,
    Array.from({ length: 100 }, (_, i) => i),
    'in order',
  );
  assert.ok(turns > 1, 'over several turns of the event loop');
});
