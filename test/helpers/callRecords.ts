/** Call records made up for tests of the records' statistics: a local call a → b, answered or not. */
import { randomUUID } from 'node:crypto';
import type { Cdr, CdrLeg } from '../../server/domain/cdr.ts';

export function callRecord(o: {
  tenantId: string;
  startedAt: number;
  seconds: number;
  answered: boolean;
  legs?: CdrLeg[];
  /** Default: normal when answered, no-answer when not. */
  hangupCause?: string;
}): Cdr {
  return {
    id: randomUUID(),
    tenantId: o.tenantId,
    callId: randomUUID(),
    nodeId: 'n',
    direction: 'local',
    caller: 'a',
    callee: 'b',
    dialled: ['b'],
    account: 'a',
    provider: null,
    startedAt: o.startedAt,
    ringingAt: o.startedAt,
    answeredAt: o.answered ? o.startedAt : null,
    endedAt: o.startedAt + o.seconds * 1000,
    ringMs: 0,
    talkMs: o.answered ? o.seconds * 1000 : 0,
    status: o.answered ? 'answered' : 'no-answer',
    sipStatus: o.answered ? 200 : 480,
    hangupCause: o.hangupCause ?? (o.answered ? 'normal' : 'no-answer'),
    hangupBy: 'caller',
    dialplan: null,
    legs: o.legs ?? [],
    log: [],
  };
}
