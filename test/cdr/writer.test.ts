/** The CDR writer's batching and failure handling, against a sink that fails on demand. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventBus } from '../../server/calls/events.ts';
import { startCdrWriter } from '../../server/cdr/writer.ts';
import { pino } from 'pino';
import { createLogger } from '../../server/observability/log.ts';
import type { Cdr } from '../../server/domain/cdr.ts';
import { CallScript } from './callScript.ts';

const log = createLogger({ level: 'silent', pretty: false });

function oneCall(bus: EventBus, at = Date.now()): string {
  const c = new CallScript(bus, 'tenant-1')
    .inbound('A', { from: 'alice', to: 'bob', account: 'alice', at })
    .hangup('A', { at: at + 1, cause: 'rejected', by: 'switch', sipStatus: 404 })
    .end();
  return c.callId;
}

test('records are batched, and kept and retried with back-off while the sink fails', async () => {
  const bus = new EventBus('n1', (err) => {
    throw err;
  });
  let failuresLeft = 3;
  const batches: Cdr[][] = [];
  const writer = startCdrWriter({
    bus,
    log,
    flushMs: 20,
    batchSize: 50,
    retryBaseMs: 10,
    sink: {
      insert: async (records) => {
        if (failuresLeft-- > 0) throw new Error('database is down');
        batches.push([...records]);
      },
    },
  });
  const callIds = Array.from({ length: 120 }, () => oneCall(bus));
  assert.equal(writer.openCalls().length, 0);
  for (let i = 0; i < 200 && writer.queued; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(writer.queued, 0);
  assert.deepEqual(
    batches.flat().map((r) => r.callId),
    callIds,
    'every record once, in order',
  );
  assert.ok(batches.every((b) => b.length <= 50));
  await writer.stop();
});

test('a call is written only when it ends; its state is a plain object', async () => {
  const bus = new EventBus('n1', (err) => {
    throw err;
  });
  const written: Cdr[] = [];
  const writer = startCdrWriter({ bus, log, sink: { insert: async (r) => void written.push(...r) } });
  const c = new CallScript(bus, 't').inbound('A', { from: 'a', to: 'b', account: 'a', at: 1000 });
  const [state] = writer.openCalls();
  assert.deepEqual(JSON.parse(JSON.stringify(state)), state);
  c.hangup('A', { at: 2000, cause: 'rejected', by: 'switch', sipStatus: 403 });
  await writer.flush();
  assert.equal(written.length, 0);
  c.end();
  await writer.flush();
  assert.equal(written.length, 1);
  assert.equal(written[0]!.id, state!.id, 'the id minted with the state');
  assert.equal(writer.openCalls().length, 0);
  await writer.stop();
});

test('past the queue bound a record is logged whole, not kept', async () => {
  const bus = new EventBus('n1', (err) => {
    throw err;
  });
  const lines: string[] = [];
  const capture = pino({ level: 'error' }, { write: (s: string) => void lines.push(s) });
  const writer = startCdrWriter({ bus, log: capture, maxQueue: 2, retryBaseMs: 60_000, sink: { insert: async () => Promise.reject(new Error('down')) } });
  const ids = [oneCall(bus), oneCall(bus), oneCall(bus)];
  assert.equal(writer.queued, 2);
  assert.ok(
    lines.some((l) => l.includes('CDR queue full') && l.includes(ids[2]!)),
    'dropped record logged whole',
  );
  await writer.stop();
});
