/** RFC 3550 receiver statistics: loss from sequence numbers (wrap, reordering, restarts) and jitter. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReceiveStats } from '../../server/media/embedded/receiveStats.ts';

function feed(stats: ReceiveStats, seqs: number[], ssrc = 1, spacingMs = 20, jitterMs = 0): void {
  seqs.forEach((seq, i) => stats.add(seq & 0xffff, (i * 160) >>> 0, ssrc, 172, i * spacingMs + (i % 2 ? jitterMs : 0), 1_000_000 + i));
}

test('loss counts the packets missing from the sequence, across the 16-bit wrap', () => {
  const s = new ReceiveStats();
  const seqs = Array.from({ length: 100 }, (_, i) => 65500 + i).filter((q) => q !== 65530 && q !== 65540);
  feed(s, seqs);
  assert.equal(s.packets, 98);
  assert.equal(s.lost, 2);
  assert.equal(s.bytes, 98 * 172);
  assert.equal(s.lastPacketAt, 1_000_000 + 97);
});

test('a late packet is not lost, a duplicate does not make loss negative', () => {
  const s = new ReceiveStats();
  feed(s, [1, 2, 4, 3, 5, 5, 6]);
  assert.equal(s.lost, 0);
});

test('a new SSRC or a big jump starts a new count, keeping earlier loss', () => {
  const s = new ReceiveStats();
  feed(s, [10, 11, 13]); // 12 lost
  feed(s, [500, 501, 502], 2);
  assert.equal(s.lost, 1);
  feed(s, [30_000, 30_001], 2); // restart of the sequence
  assert.equal(s.lost, 1);
});

test('jitter is zero for evenly spaced packets and grows with uneven arrival', () => {
  const even = new ReceiveStats();
  feed(
    even,
    Array.from({ length: 50 }, (_, i) => i),
  );
  assert.equal(even.jitterMs, 0);
  const uneven = new ReceiveStats();
  feed(
    uneven,
    Array.from({ length: 200 }, (_, i) => i),
    1,
    20,
    8,
  );
  // Every other packet 8 ms late: |D| is 8 ms each time, so J tends to 8 ms.
  assert.ok(uneven.jitterMs > 7 && uneven.jitterMs <= 8, `jitter ${uneven.jitterMs}`);
});
