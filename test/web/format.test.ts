/** The portal's time handling: filters typed in the tenant's zone become the right instants. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { duration, formatterFor, instantToZoned, zonedToInstant } from '../../web/src/format.ts';

test('a wall time in the tenant zone is the instant that zone shows it, across DST changes', () => {
  assert.equal(zonedToInstant('2026-01-15T09:30', 'Europe/Berlin').toISOString(), '2026-01-15T08:30:00.000Z');
  assert.equal(zonedToInstant('2026-07-15T09:30', 'Europe/Berlin').toISOString(), '2026-07-15T07:30:00.000Z');
  assert.equal(zonedToInstant('2026-03-29T03:30', 'Europe/Berlin').toISOString(), '2026-03-29T01:30:00.000Z', 'just after the spring change');
  assert.equal(zonedToInstant('2026-03-08T12:00', 'America/New_York').toISOString(), '2026-03-08T16:00:00.000Z');
  assert.equal(zonedToInstant('2026-06-01T00:00', 'UTC').toISOString(), '2026-06-01T00:00:00.000Z');
  assert.equal(zonedToInstant('2026-06-01T00:00', 'Asia/Kolkata').toISOString(), '2026-05-31T18:30:00.000Z');
});

test('an instant shows in the filter as the wall time of the tenant zone', () => {
  assert.equal(instantToZoned('2026-07-15T07:30:00.000Z', 'Europe/Berlin'), '2026-07-15T09:30');
  assert.equal(instantToZoned('2026-05-31T18:30:00.000Z', 'Asia/Kolkata'), '2026-06-01T00:00');
  for (const local of ['2026-01-01T00:00', '2026-10-25T12:15', '2026-12-31T23:59']) {
    assert.equal(instantToZoned(zonedToInstant(local, 'Australia/Sydney').toISOString(), 'Australia/Sydney'), local);
  }
});

test('times are shown in the tenant zone; durations in words', () => {
  const f = formatterFor('Asia/Tokyo');
  assert.match(f.time('2026-01-01T00:00:00Z'), /^09:00:00$/);
  assert.equal(f.dateTime(null), '—');
  assert.equal(duration(850), '850 ms');
  assert.equal(duration(12_400), '12 s');
  assert.equal(duration(185_000), '3 min 05 s');
  assert.equal(duration(3_720_000), '1 h 02 min');
});
