/** Why a call ended, as the call's page says it. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CdrSummary } from '../../web/src/api/types.ts';
import { hangupWords, whyItEnded } from '../../web/src/calls/words.ts';

const record = (o: Partial<CdrSummary>): CdrSummary => ({
  id: 'r',
  callId: 'c',
  direction: 'local',
  caller: 'alice',
  callee: 'bob',
  dialled: ['bob'],
  account: 'alice',
  provider: null,
  startedAt: '2026-01-01T00:00:00Z',
  ringingAt: null,
  answeredAt: null,
  endedAt: '2026-01-01T00:00:10Z',
  ringMs: null,
  talkMs: 0,
  status: 'failed',
  sipStatus: null,
  hangupCause: null,
  hangupBy: null,
  dialplan: { name: 'default', version: 2, outcome: 'completed' },
  nodeId: 'n',
  ...o,
});

test('each disposition is explained, with the dialplan when it is the reason', () => {
  assert.equal(
    whyItEnded(record({ status: 'answered', ringMs: 2000, talkMs: 65_000, hangupCause: 'normal', hangupBy: 'callee', sipStatus: 200 })),
    'Answered after 2 s of ringing; 1 min 05 s of talk, then the callee hung up.',
  );
  assert.equal(whyItEnded(record({ status: 'busy', sipStatus: 486 })), 'The called side was busy (486).');
  assert.equal(whyItEnded(record({ status: 'no-answer', ringMs: 20_000 })), 'Nobody answered after 20 s of ringing.');
  assert.equal(whyItEnded(record({ status: 'cancelled', ringMs: 3000 })), 'The caller hung up before anyone answered after 3 s of ringing.');
  assert.equal(
    whyItEnded(record({ status: 'failed', sipStatus: 500, hangupCause: 'dialplan-error', dialplan: { name: 'default', version: 2, outcome: 'error' } })),
    'The call failed: the switch failed (500); dialplan error. The dialplan default threw an error (its log says where).',
  );
  assert.equal(whyItEnded(record({ status: 'failed', sipStatus: 404, hangupCause: 'rejected' })), 'The call failed: nobody by that number or name (404 Not Found).');
  assert.equal(hangupWords('normal', 'caller'), 'caller hung up');
  assert.equal(hangupWords('busy', 'callee', 486), 'busy (486) · callee side');
});
