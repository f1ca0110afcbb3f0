/**
 * Call records reach the disk even when it is full: on a tmpfs the test fills to the last byte,
 * records the database refuses go into the spool's pre-allocated reserve (fsynced, on disk, not in
 * memory), are written once when the database answers, and the reserve is made ready for the next
 * full disk without needing new space. A reserve left holding records by a stopped run is drained
 * by the next.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { pino } from 'pino';
import { EventBus } from '../../server/calls/events.ts';
import type { Cdr } from '../../server/domain/cdr.ts';
import { openCdrSpool, SPOOL_FILE } from '../../server/cdr/spool.ts';
import { RESERVE_FILE } from '../../server/cdr/spoolReserve.ts';
import { startCdrWriter, type CdrSink } from '../../server/cdr/writer.ts';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.ts';
import { CallScript } from './callScript.ts';

const RESERVE_BYTES = 256 * 1024;
const mounted = mountTmpfs(4);
const skip = typeof mounted === 'string' ? mounted : false;

/** A sink that refuses while `down` is set, like a database on the full disk. */
class FlakySink implements CdrSink {
  down = true;
  readonly rows: Cdr[] = [];
  async insert(records: readonly Cdr[]): Promise<void> {
    if (this.down) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    this.rows.push(...records);
  }
}

function oneCall(bus: EventBus): string {
  const at = Date.now();
  return new CallScript(bus, 'tenant-1')
    .inbound('A', { from: 'alice', to: 'bob', account: 'alice', at })
    .hangup('A', { at: at + 1, cause: 'busy', by: 'callee', sipStatus: 486 })
    .end().callId;
}

async function until(what: string, ms: number, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('the CDR spool on a full disk [tmpfs]', { skip }, () => {
  const fs = mounted as Tmpfs;
  after(() => fs?.remove?.());

  test('records go into the reserve when the disk is full, are written once when the database answers, and the reserve is ready again', async () => {
    const dir = path.join(fs.dir, 'spool');
    const reserveFile = path.join(dir, RESERVE_FILE);
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(s) });
    const sink = new FlakySink();
    const diskFailures: string[] = [];
    const spool = await openCdrSpool({
      dir,
      sink,
      log,
      retryBaseMs: 20,
      retryMaxMs: 40,
      reserveBytes: RESERVE_BYTES,
      onDiskFailure: (err) => diskFailures.push((err as NodeJS.ErrnoException).code!),
    });
    assert.equal(statSync(reserveFile).size, RESERVE_BYTES, 'the reserve is allocated at open');
    const bus = new EventBus('n1', (err) => {
      throw err;
    });
    const writer = startCdrWriter({ bus, sink, spool, log, flushMs: 5, batchSize: 10 });

    const filler = fs.fill();
    const calls = Array.from({ length: 25 }, () => oneCall(bus));
    await writer.flush();
    assert.equal(writer.queued, 0, 'nothing waits in memory only');
    const onDisk = readFileSync(reserveFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as Cdr).callId);
    assert.deepEqual(onDisk, calls, 'every record is in the reserve, on disk');
    assert.equal(statSync(reserveFile).size, RESERVE_BYTES, 'written in place: the file did not grow');
    assert.equal(spool.pending, 25);
    assert.ok(diskFailures.includes('ENOSPC'), 'the full disk was reported');
    assert.equal(lines.filter((l) => l.includes('the disk is full')).length, 1, 'said once, not per batch');

    // Space again, and the database answers: every record once; the reserve is newlines again.
    rmSync(filler);
    sink.down = false;
    await until('the spool drains', 10_000, () => spool.pending === 0);
    assert.deepEqual(
      sink.rows.map((r) => r.callId),
      calls,
    );
    await until('the reserve to be reset', 5000, () => !readFileSync(reserveFile, 'utf8').trim());
    assert.equal(statSync(reserveFile).size, RESERVE_BYTES);

    // A second full disk, and the switch stops before the database answers: the next run drains the reserve.
    fs.fill();
    sink.down = true;
    const later = Array.from({ length: 3 }, () => oneCall(bus));
    await writer.flush();
    assert.equal(writer.queued, 0);
    await writer.stop();
    await spool.stop();
    rmSync(filler);
    sink.down = false;
    const next = await openCdrSpool({ dir, sink, log, reserveBytes: RESERVE_BYTES });
    await until('the next run to drain the reserve', 10_000, () => next.pending === 0);
    assert.deepEqual(sink.rows.map((r) => r.callId).slice(-3), later);
    assert.equal(sink.rows.length, 28, 'nothing twice');
    await next.stop();
    assert.ok(!existsSync(path.join(dir, SPOOL_FILE)), 'no spool file left');
  });
});
