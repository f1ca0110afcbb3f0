/**
 * A full data directory is visible: the switch runs with DATA_DIR (and its SQLite file) on a
 * tmpfs the test fills to the last byte. `/readyz` turns 503, the `data_dir_can_persist` gauge 0,
 * and one log line says why; the calls made meanwhile have their records on disk (the spool's
 * reserve), none only in memory. With space again the node is ready, and every record reaches
 * the database once.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { RESERVE_FILE } from '../../server/cdr/spoolReserve.ts';
import { dialplanSource, newTenant } from '../calls/harness.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { header, isFinalFor, tagOf } from '../helpers/sipDialog.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { mountTmpfs, type Tmpfs } from '../helpers/tmpfs.ts';
import { waitFor } from '../interop/tools.ts';

const mounted = mountTmpfs(32);
const skip = typeof mounted === 'string' ? mounted : false;

/** A stranger's call that the dialplan answers 486: a call record, nothing else. */
async function busyCall(phone: TestPhone, sipPort: number, user: string): Promise<void> {
  const callId = `${randomBytes(6).toString('hex')}@busy`;
  const invite = phone.build({
    method: 'INVITE',
    uri: `sip:${user}@127.0.0.1:${sipPort}`,
    to: `sip:${user}@127.0.0.1`,
    from: 'sip:stranger@127.0.0.1',
    callId,
    headers: [`Contact: <sip:stranger@127.0.0.1:${phone.localPort}>`],
  });
  const from = phone.received.length;
  phone.sendRaw(invite.text);
  const final = await phone.waitFor(isFinalFor(invite.branch), 10_000, from);
  assert.match(final, /^SIP\/2\.0 486 /);
  phone.sendRaw(
    [
      `ACK sip:${user}@127.0.0.1:${sipPort} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${phone.localPort};branch=${invite.branch};rport`,
      'Max-Forwards: 70',
      `From: <sip:stranger@127.0.0.1>;tag=${phone.fromTag}`,
      `To: <sip:${user}@127.0.0.1>;tag=${tagOf(header(final, 'To'))}`,
      `Call-ID: ${callId}`,
      `CSeq: ${invite.cseq} ACK`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

describe('a full data directory [tmpfs]', { skip }, () => {
  const fs = mounted as Tmpfs;
  let sw: TestSwitch | undefined;
  const phones: TestPhone[] = [];
  after(async () => {
    for (const p of phones) p.close();
    await sw?.close();
    fs?.remove?.();
  });

  test('readiness says the node cannot persist, once in the log; records made meanwhile are on disk and reach the database when space returns', { timeout: 120_000 }, async () => {
    const logLines: string[] = [];
    const sqlite = path.join(fs.dir, 'switch.sqlite');
    sw = await startTestSwitch('sqlite', {
      logLines,
      env: { DATA_DIR: fs.dir, DATABASE_URL: `sqlite://${sqlite}`, CDR_SPOOL_RESERVE_MB: '2', DATA_DIR_MIN_FREE_MB: '1' },
    });
    const s = sw;
    const metric = async (name: string) => {
      const m = (await s.running.metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
      return (m?.values ?? []).reduce((sum, v) => sum + Number(v.value), 0);
    };
    const readyz = async () => (await fetch(`${s.httpUrl}/readyz`)).status;
    const logged = (text: string) => logLines.filter((l) => l.includes(text)).length;
    const records = async () => (await t.api.get('/cdrs?limit=100')).body.items.length as number;

    const t = await newTenant(s);
    await t.dialplan('busy', dialplanSource('  return respond(486);'));
    const callee = await t.account({ dialplanIn: 'busy' });
    const caller = await TestPhone.open('udp', s.sipPort);
    phones.push(caller);
    await busyCall(caller, s.sipPort, callee.username);
    await waitFor('the first record in the database', 10_000, async () => ((await records()) === 1 ? true : undefined));
    assert.equal(await readyz(), 200);

    // SQLite would otherwise keep committing into WAL space it already holds: empty the WAL
    // first (as a checkpoint does), so the database needs new space for the next record too.
    const side = new Database(sqlite);
    try {
      assert.equal((side.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>)[0]!.busy, 0);
    } finally {
      side.close();
    }
    const filler = fs.fill();

    await waitFor('/readyz to say the node cannot persist', 15_000, async () => ((await readyz()) === 503 ? true : undefined));
    assert.equal(await metric('data_dir_can_persist'), 0);
    for (let i = 0; i < 5; i++) await busyCall(caller, s.sipPort, callee.username);
    await s.running.cdrWriter.flush();
    assert.equal(s.running.cdrWriter.queued, 0, 'no record waits in memory only');
    const reserved = readFileSync(path.join(fs.dir, 'spool', RESERVE_FILE), 'utf8')
      .split('\n')
      .filter(Boolean);
    assert.equal(reserved.length, 5, 'the five records are on disk, in the reserved space');
    assert.ok(reserved.every((l) => JSON.parse(l).tenantId === t.id));
    assert.equal(logged('cannot persist to the data directory'), 1, 'said once, not per record');
    assert.equal(logged('the disk is full: call records go into the space set aside'), 1);
    assert.equal(await readyz(), 503);

    // Space again: ready, said once, and every record in the database once.
    rmSync(filler);
    await waitFor('/readyz to say ready again', 15_000, async () => ((await readyz()) === 200 ? true : undefined));
    assert.equal(await metric('data_dir_can_persist'), 1);
    assert.equal(logged('the data directory takes writes again'), 1);
    await waitFor('the spooled records to reach the database', 30_000, async () => ((await records()) === 6 ? true : undefined));
    await waitFor('the reserve to be emptied', 10_000, async () => (!readFileSync(path.join(fs.dir, 'spool', RESERVE_FILE), 'utf8').trim() ? true : undefined));
    assert.equal(await metric('cdr_spool_records'), 0);
  });
});
