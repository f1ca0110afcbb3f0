/**
 * The CDR spool: records the database refuses go to a local file (fsynced), are written when it
 * answers again, exactly once, also across a restart and a crash between insert and deletion.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { EventBus } from '../../server/calls/events.ts';
import { withInsertDeadline } from '../../server/cdr/deadline.ts';
import { DRAINING_FILE, openCdrSpool, SPOOL_FILE, type CdrSpool } from '../../server/cdr/spool.ts';
import { startCdrWriter, type CdrSink } from '../../server/cdr/writer.ts';
import { createLogger } from '../../server/observability/log.ts';
import type { Cdr } from '../../server/domain/cdr.ts';
import type { CdrsTable } from '../../server/store/cdrs.ts';
import { Store } from '../../server/store/index.ts';
import { createTestDatabase, DIALECTS, skipUnless } from '../helpers/databases.ts';
import { CallScript } from './callScript.ts';

const log = createLogger({ level: 'silent', pretty: false });
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function spoolDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'sipswitch-spool-'));
  dirs.push(d);
  return path.join(d, 'spool');
}

const newBus = () =>
  new EventBus('n1', (err) => {
    throw err;
  });

function oneCall(bus: EventBus, tenantId = 'tenant-1'): string {
  const at = Date.now();
  return new CallScript(bus, tenantId)
    .inbound('A', { from: 'alice', to: 'bob', account: 'alice', at })
    .hangup('A', { at: at + 1, cause: 'rejected', by: 'switch', sipStatus: 404 })
    .end().callId;
}

/** A sink that refuses while `down` is set, like a stopped database. */
class FlakySink implements CdrSink {
  down = true;
  readonly rows: Cdr[] = [];
  async insert(records: readonly Cdr[]): Promise<void> {
    if (this.down) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:3306'), { code: 'ECONNREFUSED' });
    this.rows.push(...records);
  }
}

const linesOf = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);
/** Every record line on disk, oldest first (the file being drained holds the older ones). */
const spooledLines = (dir: string) => [...linesOf(path.join(dir, DRAINING_FILE)), ...linesOf(path.join(dir, SPOOL_FILE))];

async function until(what: string, ms: number, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function metric(registry: Registry, name: string): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  return Number(m?.values[0]?.value ?? NaN);
}

test('a refused batch is spooled to disk at once, newer records join it, and all are written once when the database answers', async () => {
  const dir = spoolDir();
  const sink = new FlakySink();
  const registry = new Registry();
  const lines: string[] = [];
  const capture = pino({ level: 'info' }, { write: (s: string) => void lines.push(s) });
  const spool = await openCdrSpool({ dir, sink, log: capture, registry, retryBaseMs: 20, retryMaxMs: 40 });
  const bus = newBus();
  let writerTries = 0;
  const writerSink: CdrSink = { insert: (r) => (writerTries++, sink.insert(r)) };
  const writer = startCdrWriter({ bus, sink: writerSink, spool, log: capture, registry, flushMs: 5, batchSize: 10 });

  const first = Array.from({ length: 25 }, () => oneCall(bus));
  await writer.flush();
  assert.equal(writer.queued, 0, 'nothing waits in memory');
  assert.deepEqual(
    spooledLines(dir).map((l) => (JSON.parse(l) as Cdr).callId),
    first,
    'on disk, in order',
  );
  assert.equal(await metric(registry, 'cdr_spool_records'), 25);
  assert.equal(writerTries, 1, 'the first refused batch sent the rest to the spool');
  const second = Array.from({ length: 7 }, () => oneCall(bus));
  await writer.flush();
  assert.equal(spool.pending, 32);
  assert.equal(writerTries, 1, 'newer batches join the spool: only its drainer probes the database');
  const spooledLog = lines.filter((l) => l.includes('call records spooled to disk')).join('\n');
  for (const id of [...first, ...second]) assert.ok(spooledLog.includes(id), `log names spooled call ${id}`);

  sink.down = false;
  await until('the spool drains', 5000, () => spool.pending === 0);
  assert.deepEqual(
    sink.rows.map((r) => r.callId),
    [...first, ...second],
    'every record once, in order',
  );
  // The count reaches 0 when the last batch is in; the drained file is removed right after.
  await until('the spool files to be removed', 2000, () => !existsSync(path.join(dir, SPOOL_FILE)) && !existsSync(path.join(dir, DRAINING_FILE)));
  assert.equal(await metric(registry, 'cdr_spool_records'), 0);
  assert.equal(await metric(registry, 'cdr_spool_appended_total'), 32);
  assert.equal(await metric(registry, 'cdr_spool_drained_total'), 32);
  assert.ok((await metric(registry, 'cdr_spool_drain_failures_total')) >= 1);
  const drainedLog = lines.filter((l) => l.includes('spooled call records written to the database')).join('\n');
  for (const id of [...first, ...second]) assert.ok(drainedLog.includes(id), `log names drained call ${id}`);

  const third = oneCall(bus);
  await writer.flush();
  assert.equal(sink.rows.at(-1)?.callId, third, 'with the spool empty, records go straight to the database again');
  assert.equal(spooledLines(dir).length, 0);
  await writer.stop();
  await spool.stop();
});

test('records still spooled at shutdown are written at the next start', async () => {
  const dir = spoolDir();
  const sink = new FlakySink();
  const spool = await openCdrSpool({ dir, sink, log, retryBaseMs: 60_000 });
  const bus = newBus();
  const writer = startCdrWriter({ bus, sink, spool, log });
  const ids = [oneCall(bus), oneCall(bus), oneCall(bus)];
  await writer.stop();
  await spool.stop();
  assert.equal(spooledLines(dir).length, 3);

  sink.down = false;
  const next = await openCdrSpool({ dir, sink, log });
  assert.equal(next.pending, 3, 'counted at open');
  await until("the earlier run's spool drains", 5000, () => next.pending === 0);
  assert.deepEqual(
    sink.rows.map((r) => r.callId),
    ids,
  );
  await next.stop();
});

test('a line torn by a crash is skipped and logged; the records around it are written', async () => {
  const dir = spoolDir();
  const sink = new FlakySink();
  const first = await openCdrSpool({ dir, sink, log, retryBaseMs: 60_000 });
  const bus = newBus();
  const records: Cdr[] = [];
  const writer = startCdrWriter({ bus, log, sink: { insert: async (r) => void records.push(...r) } });
  oneCall(bus);
  oneCall(bus);
  await writer.flush();
  await first.append(records);
  await first.stop();
  // The crash: half a record written, no newline.
  writeFileSync(path.join(dir, SPOOL_FILE), JSON.stringify(records[1]).slice(0, 40), { flag: 'a' });

  const lines: string[] = [];
  const capture = pino({ level: 'info' }, { write: (s: string) => void lines.push(s) });
  const spool = await openCdrSpool({ dir, sink, log: capture, retryBaseMs: 60_000 });
  await spool.append([{ ...records[1]!, id: 'after-the-tear' }]);
  sink.down = false;
  await spool.drain();
  assert.deepEqual(
    sink.rows.map((r) => r.id),
    [records[0]!.id, records[1]!.id, 'after-the-tear'],
  );
  assert.ok(lines.some((l) => l.includes('unreadable line in the CDR spool')));
  assert.equal(spool.pending, 0);
  await spool.stop();
  await writer.stop();
});

test('when the disk fails too, the batch stays in memory and is retried; nothing is lost', async () => {
  const dir = spoolDir();
  const sink = new FlakySink();
  const registry = new Registry();
  const spool = await openCdrSpool({ dir, sink, log, registry, retryBaseMs: 20, retryMaxMs: 40 });
  // A directory where the spool file should be: every append fails (root ignores permissions).
  mkdirSync(path.join(dir, SPOOL_FILE));
  const bus = newBus();
  const writer = startCdrWriter({ bus, sink, spool, log, registry, flushMs: 5, retryBaseMs: 20, retryMaxMs: 40 });
  const ids = [oneCall(bus), oneCall(bus)];
  await assert.rejects(writer.flush());
  assert.equal(writer.queued, 2, 'kept in memory');
  assert.ok((await metric(registry, 'cdr_spool_write_failures_total')) >= 1);
  rmSync(path.join(dir, SPOOL_FILE), { recursive: true });
  await until('the writer spools on retry', 5000, () => writer.queued === 0);
  assert.equal(spool.pending, 2);
  sink.down = false;
  await until('the spool drains', 5000, () => spool.pending === 0);
  assert.deepEqual(
    sink.rows.map((r) => r.callId),
    ids,
  );
  await writer.stop();
  await spool.stop();
});

test('an insert that hangs counts as failed: the batch is spooled', async () => {
  const dir = spoolDir();
  let hung = 0;
  const hanging: CdrSink = { insert: () => (hung++, new Promise<void>(() => {})) };
  const sink = withInsertDeadline(hanging, 50);
  const spool = await openCdrSpool({ dir, sink, log, retryBaseMs: 60_000 });
  const bus = newBus();
  const writer = startCdrWriter({ bus, sink, spool, log });
  const id = oneCall(bus);
  await writer.flush();
  assert.equal(hung, 1);
  assert.equal(spool.pending, 1);
  assert.equal((JSON.parse(spooledLines(dir)[0]!) as Cdr).callId, id);
  await writer.stop();
  await spool.stop();
});

for (const dialect of DIALECTS) {
  describe(`spool drain into the store [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    test('records already stored (a crash after the insert, before the spool was deleted) are not duplicated', async () => {
      const db = await createTestDatabase(dialect);
      const store = await Store.open(db.url);
      let spool: CdrSpool | undefined;
      try {
        const records: Cdr[] = [];
        const bus = newBus();
        const writer = startCdrWriter({ bus, log, sink: { insert: async (r) => void records.push(...r) } });
        const ids = Array.from({ length: 30 }, () => oneCall(bus, 'tenant-spool'));
        await writer.stop();
        const dir = spoolDir();
        const down = new FlakySink();
        const first = await openCdrSpool({ dir, sink: down, log, retryBaseMs: 60_000 });
        await first.append(records);
        await first.stop();
        // The earlier run wrote the first 20 and died before deleting the spool.
        await store.cdrs.insert(records.slice(0, 20));

        spool = await openCdrSpool({ dir, sink: store.cdrs, log, batchSize: 7 });
        await spool.drain();
        const rows = await store.kysely.withTables<{ cdrs: CdrsTable }>().selectFrom('cdrs').select(['id', 'call_id']).where('tenant_id', '=', 'tenant-spool').execute();
        assert.equal(rows.length, 30, 'each record once');
        assert.deepEqual(new Set(rows.map((r) => r.call_id)), new Set(ids));
        assert.equal(spool.pending, 0);
        assert.equal(existsSync(path.join(dir, SPOOL_FILE)) || existsSync(path.join(dir, DRAINING_FILE)), false);
      } finally {
        await spool?.stop();
        await store.close();
        await db.drop();
      }
    });
  });
}
