/**
 * The outcome table (server/domain/outcomes.ts) pinned row by row: a callee's failure response as
 * the dial reports it and the leg ends, what the caller is then told, and the call record's
 * status. Every path (live calls, calls resumed after a restart, test runs, transfers) reads it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { answerToCaller, causeOfResponse, cdrStatusOf, failureOfResponse, mostTelling, statusOfOutcome, type DialOutcome } from '../../server/domain/outcomes.ts';

test("a callee's failure response: the dial's outcome, the leg's hang-up cause, the caller's answer, the record's status", () => {
  const rows: Array<[number, DialOutcome, string, [number, string], string]> = [
    // callee says  dial outcome     leg cause       caller is told                       record
    [486, 'busy', 'busy', [486, 'Busy Here'], 'busy'],
    [600, 'busy', 'busy', [486, 'Busy Here'], 'busy'],
    [480, 'no-answer', 'no-answer', [480, 'No Answer'], 'no-answer'],
    [408, 'no-answer', 'no-answer', [480, 'No Answer'], 'no-answer'],
    [503, 'unavailable', 'unavailable', [480, 'Temporarily Unavailable'], 'unavailable'],
    [502, 'unavailable', 'unavailable', [480, 'Temporarily Unavailable'], 'unavailable'],
    [504, 'unavailable', 'unavailable', [480, 'Temporarily Unavailable'], 'unavailable'],
    [487, 'cancelled', 'cancelled', [487, 'Request Terminated'], 'cancelled'],
    [404, 'rejected:404', 'rejected', [404, 'Rejected'], 'failed'],
    [603, 'rejected:603', 'rejected', [603, 'Rejected'], 'failed'],
    [500, 'rejected:500', 'rejected', [500, 'Rejected'], 'failed'],
    // A provider refusing our credentials: its challenge is for us, not for the caller.
    [401, 'rejected:401', 'rejected', [403, 'Forbidden'], 'failed'],
    [407, 'rejected:407', 'rejected', [403, 'Forbidden'], 'failed'],
  ];
  for (const [status, outcome, cause, [toCaller, reason], record] of rows) {
    const failure = failureOfResponse(status);
    assert.deepEqual(failure, { result: outcome, cause }, `${status}`);
    assert.deepEqual(answerToCaller(failure), { status: toCaller, reason, cause }, `${status} to the caller`);
    assert.equal(causeOfResponse(status), cause, `${status} from a dialplan's respond()`);
    assert.equal(cdrStatusOf(false, failure.cause, toCaller), record, `${status} in the record`);
  }
});

test('no dial at all is 404 to the caller; an answered call is answered whatever else happened', () => {
  assert.deepEqual(answerToCaller(undefined), { status: 404, reason: 'Not Found', cause: 'rejected' });
  assert.deepEqual(answerToCaller({ result: 'answered' }), { status: 404, reason: 'Not Found', cause: 'rejected' });
  assert.equal(cdrStatusOf(true, 'busy', 486), 'answered');
  for (const cause of ['dialplan-error', 'switch-error', 'max-duration', 'normal'] as const) assert.equal(cdrStatusOf(false, cause, 500), 'failed', cause);
  assert.equal(cdrStatusOf(false, 'rejected', 486), 'busy', 'a 486 is busy whatever the cause says');
});

test('of several failures the most telling is reported: busy, rejected, no answer, unavailable, cancelled', () => {
  const order: DialOutcome[] = ['busy', 'rejected:404', 'no-answer', 'unavailable', 'cancelled'];
  for (let i = 0; i < order.length; i++) {
    const rest = order
      .slice(i)
      .reverse()
      .map((result) => ({ result }));
    assert.equal(mostTelling(rest)?.result, order[i], `among ${order.slice(i).join(', ')}`);
  }
  assert.equal(mostTelling([{ result: 'answered' as DialOutcome }]), undefined);
  assert.deepEqual([statusOfOutcome('answered'), statusOfOutcome('busy'), statusOfOutcome('rejected:403'), statusOfOutcome('no-answer')], [200, 486, 403, undefined]);
});
