/**
 * A 30 s database outage under a steady sipp load of calls and registrations: the switch runs on a
 * MariaDB of the test's own, which is stopped (SIGTERM) and started again on the same data
 * directory. Asserted: calls established before the outage continue and end cleanly; every call the
 * switch handled has exactly one record once the spool has drained; the spool was used and is
 * empty; new calls and registrations during the outage succeed too (accounts, dialplans and
 * bindings are served from the node's caches and its location overlay), so every call sipp placed
 * has its one record.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { CallEvent } from '../../server/calls/events.ts';
import { authRow, dialplanSource, newTenant, scenario } from '../calls/harness.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { exitOf, freeUdpTcpPort, lastSippStats, skipWithout, startTool, waitFor } from '../interop/tools.ts';
import { PrivateMariadb, skipWithoutMariadb } from './privateMariadb.ts';
import { elapse } from '../helpers/time.ts';

const OUTAGE_MS = 30_000;
const CALL_RATE = 5;
const PRE_CALLS = 40;
/** Calls placed before the outage are held this long, so the last ones hang up during it. */
const PRE_HOLD_MS = 5000;
const HOLD_MS = 1000;
const REGISTER_RATE = 2;

const skip = skipWithoutMariadb() || skipWithout('sipp', 'sip-tester');

interface SippRun {
  pid: number;
  done: Promise<Record<string, string>>;
  kill(): void;
}

const n = (stats: Record<string, string>, key: string) => Number(stats[key] ?? 0) || 0;

describe('database outage under load [mysql, private MariaDB]', { skip }, () => {
  const running: SippRun[] = [];
  let db: PrivateMariadb | undefined;
  let sw: TestSwitch | undefined;
  const work = mkdtempSync(path.join(tmpdir(), 'sipswitch-outage-'));
  after(async () => {
    for (const r of running) r.kill();
    await Promise.all(running.map((r) => r.done.catch(() => {})));
    await sw?.close();
    await db?.destroy();
    rmSync(work, { recursive: true, force: true });
  });

  /** A sipp UAC run: `calls` calls at `rate`/s, bounded in time, killed by PID on cleanup. */
  async function sipp(name: string, args: string[], o: { rate: number; calls: number; timeoutS: number }): Promise<SippRun> {
    const stf = path.join(work, `${name}.stat.csv`);
    const port = await freeUdpTcpPort();
    const tool = startTool(
      'sipp',
      [
        ...args,
        '-i',
        '127.0.0.1',
        '-p',
        String(port),
        '-r',
        String(o.rate),
        '-m',
        String(o.calls),
        '-nostdin',
        '-timeout',
        `${o.timeoutS}s`,
        '-trace_stat',
        '-stf',
        stf,
        '-fd',
        '1',
        '-trace_err',
        '-error_file',
        path.join(work, `${name}.err.log`),
      ],
      work,
    );
    const pid = tool.child.pid!;
    const run: SippRun = {
      pid,
      done: exitOf(tool.child, (o.timeoutS + 10) * 1000, tool.output).then(() => (existsSync(stf) ? lastSippStats(stf) : {})),
      kill: () => {
        if (tool.child.exitCode === null && tool.child.signalCode === null) process.kill(pid, 'SIGKILL');
      },
    };
    running.push(run);
    return run;
  }

  test('MariaDB stopped for 30 s: established calls end cleanly, every record arrives exactly once', { timeout: 150_000 }, async (t) => {
    db = await PrivateMariadb.create();
    await db.query('', 'CREATE DATABASE outage CHARACTER SET utf8mb4');
    // The helper's SQLite directory becomes DATA_DIR (the spool lives there); the database is ours.
    sw = await startTestSwitch('sqlite', {
      env: { DATABASE_URL: db.url('outage'), CALLS_PER_TENANT: '500', CALLS_PER_MINUTE_PER_TENANT: '100000', DIALPLAN_TENANT_CONCURRENCY: '200' },
    });
    const s = sw;
    const registry = s.running.metrics.registry;
    const metric = async (name: string) => {
      const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
      return (m?.values ?? []).reduce((sum, v) => sum + Number(v.value), 0);
    };
    const responsesByStatus = async () => {
      const m = (await registry.getMetricsAsJSON()).find((x) => x.name === 'sip_responses_sent_total');
      return new Map((m?.values ?? []).map((v) => [String(v.labels.status), Number(v.value)]));
    };

    const uasPort = await freeUdpTcpPort();
    const tenant = await newTenant(s);
    await tenant.dialplan('in', dialplanSource(`const r = await dial('sip:uas@127.0.0.1:${uasPort}', { timeout: 10 });\nif (!r.answered) return respond(480);`));
    const callee = await tenant.account({ dialplanIn: 'in' });
    const phone = await tenant.account();
    const inf = path.join(work, 'phone.csv');
    writeFileSync(inf, `SEQUENTIAL\n${authRow(phone)}\n`);

    // The switch's view: every call it handled, when it ended, and how many inbound legs were answered.
    const ended = new Map<string, number>();
    const endedAt = new Map<string, number>();
    const seen = new Set<string>();
    let inboundAnswered = 0;
    const unsubscribe = s.running.bus.subscribe((e: CallEvent) => {
      if (e.tenantId !== tenant.id) return;
      seen.add(e.callId);
      if (e.type === 'call.ended') {
        ended.set(e.callId, (ended.get(e.callId) ?? 0) + 1);
        endedAt.set(e.callId, Date.now());
      }
      if (e.type === 'channel.state' && e.channel.direction === 'inbound' && e.channel.state === 'up') inboundAnswered++;
    });

    const uasTool = startTool(
      'sipp',
      ['-sf', scenario('bench_uas.xml'), '-i', '127.0.0.1', '-p', String(uasPort), '-nostdin', '-default_behaviors', 'all,-abortunexp', '-timeout', '140s'],
      work,
    );
    running.push({
      pid: uasTool.child.pid!,
      done: exitOf(uasTool.child, 145_000, uasTool.output).then(() => ({})),
      kill: () => {
        if (uasTool.child.exitCode === null && uasTool.child.signalCode === null) process.kill(uasTool.child.pid!, 'SIGKILL');
      },
    });
    const calls = (name: string, count: number, holdMs: number) =>
      sipp(name, [`127.0.0.1:${s.sipPort}`, '-sf', scenario('bench_uac.xml'), '-s', callee.username, '-t', 'u1', '-d', String(holdMs)], {
        rate: CALL_RATE,
        calls: count,
        timeoutS: Math.ceil(count / CALL_RATE) + 30,
      });
    const registers = (name: string, count: number) =>
      sipp(name, [`127.0.0.1:${s.sipPort}`, '-sf', scenario('register.xml'), '-inf', inf, '-t', 'u1'], {
        rate: REGISTER_RATE,
        calls: count,
        timeoutS: Math.ceil(count / REGISTER_RATE) + 30,
      });

    // Before: calls held 5 s, registrations; the outage starts once every call is established.
    const preCalls = await calls('pre-calls', PRE_CALLS, PRE_HOLD_MS);
    const preRegs = await registers('pre-registers', 10);
    await waitFor(`${PRE_CALLS} calls answered`, 30_000, async () => (inboundAnswered >= PRE_CALLS ? true : undefined));
    const writeFailuresBefore = await metric('cdr_write_failures_total');

    const responsesBefore = await responsesByStatus();
    const outageStart = Date.now();
    const shutdownMs = await db.stop();
    const duringCalls = await calls('during-calls', (CALL_RATE * (OUTAGE_MS - 5000)) / 1000, HOLD_MS);
    const duringRegs = await registers('during-registers', (REGISTER_RATE * (OUTAGE_MS - 5000)) / 1000);
    const stats = { pre: await preCalls.done, preRegs: await preRegs.done };
    await elapse(outageStart + OUTAGE_MS - Date.now());
    const spooledDuringOutage = await metric('cdr_spool_appended_total');
    // A record waits up to 200 ms in memory before its batch is written (or spooled).
    const endedDuringOutage = [...endedAt.values()].filter((at) => at >= outageStart && at < Date.now() - 1000).length;

    const responsesDuring = await responsesByStatus();
    await db.start();
    const outageEnd = Date.now();
    // When the spool is first empty again (records of new calls may join it later, while it drains).
    let spoolEmptyAt: number | undefined;
    const spoolWatch = setInterval(() => {
      void metric('cdr_spool_records').then((v) => {
        if (v === 0) spoolEmptyAt ??= Date.now();
      });
    }, 100);
    const postCalls = await calls('post-calls', 40, HOLD_MS);
    const postRegs = await registers('post-registers', 10);
    const during = { calls: await duringCalls.done, regs: await duringRegs.done };
    const post = { calls: await postCalls.done, regs: await postRegs.done };

    // Every call the switch took has ended; then its records must all reach the database.
    await waitFor('every call to end', 20_000, async () => ([...seen].every((id) => ended.has(id)) ? true : undefined));
    await s.running.cdrWriter.flush();
    await waitFor('the spool to drain', 30_000, async () => ((await metric('cdr_spool_records')) === 0 ? true : undefined));
    clearInterval(spoolWatch);
    unsubscribe();

    const rows = (await db.query('outage', 'SELECT id, call_id, status, answered_at, ended_at, hangup_by, hangup_cause FROM cdrs WHERE tenant_id = ?', [tenant.id])) as Array<{
      id: string;
      call_id: string;
      status: string;
      answered_at: number | null;
      ended_at: number;
      hangup_by: string | null;
      hangup_cause: string | null;
    }>;
    const appended = await metric('cdr_spool_appended_total');
    const drained = await metric('cdr_spool_drained_total');
    const placed = n(stats.pre, 'TotalCallCreated') + n(during.calls, 'TotalCallCreated') + n(post.calls, 'TotalCallCreated');
    const succeeded = n(stats.pre, 'SuccessfulCall(C)') + n(during.calls, 'SuccessfulCall(C)') + n(post.calls, 'SuccessfulCall(C)');
    const heldAcross = rows.filter((r) => r.answered_at !== null && Number(r.answered_at) < outageStart && Number(r.ended_at) > outageStart);
    const measured = {
      mariadbShutdownMs: shutdownMs,
      outageMs: outageEnd - outageStart,
      callsPlaced: placed,
      callsSucceeded: succeeded,
      callsBySipp: {
        before: `${n(stats.pre, 'SuccessfulCall(C)')} ok / ${n(stats.pre, 'FailedCall(C)')} failed`,
        during: `${n(during.calls, 'SuccessfulCall(C)')} ok / ${n(during.calls, 'FailedCall(C)')} failed`,
        after: `${n(post.calls, 'SuccessfulCall(C)')} ok / ${n(post.calls, 'FailedCall(C)')} failed`,
      },
      registrationsBySipp: {
        before: `${n(stats.preRegs, 'SuccessfulCall(C)')} ok / ${n(stats.preRegs, 'FailedCall(C)')} failed`,
        during: `${n(during.regs, 'SuccessfulCall(C)')} ok / ${n(during.regs, 'FailedCall(C)')} failed`,
        after: `${n(post.regs, 'SuccessfulCall(C)')} ok / ${n(post.regs, 'FailedCall(C)')} failed`,
      },
      callsHandledBySwitch: ended.size,
      callsEndedDuringOutage: endedDuringOutage,
      heldAcrossOutageStart: heldAcross.length,
      records: rows.length,
      recordsByStatus: Object.fromEntries([...new Set(rows.map((r) => r.status))].map((st) => [st, rows.filter((r) => r.status === st).length])),
      cdrWriteFailures: (await metric('cdr_write_failures_total')) - writeFailuresBefore,
      spooledDuringOutage,
      spooledInAll: appended,
      drained,
      drainFailures: await metric('cdr_spool_drain_failures_total'),
      spoolFirstEmptyAfterRestartMs: (spoolEmptyAt ?? Date.now()) - outageEnd,
      sipResponsesDuringOutage: Object.fromEntries([...responsesDuring].map(([st, v]) => [st, v - (responsesBefore.get(st) ?? 0)]).filter(([, v]) => Number(v) > 0)),
    };
    t.diagnostic(`measured: ${JSON.stringify(measured)}`);
    console.log('database outage, measured:', JSON.stringify(measured, null, 2));

    // Calls established before the outage continue and end cleanly, their records included.
    assert.equal(n(stats.pre, 'SuccessfulCall(C)'), PRE_CALLS, `every call placed before the outage completed: ${JSON.stringify(stats.pre)}`);
    assert.equal(n(stats.pre, 'FailedCall(C)'), 0);
    assert.ok(heldAcross.length >= 10, `calls answered before the outage and ended during it: ${heldAcross.length}`);
    for (const r of heldAcross) {
      assert.equal(r.status, 'answered');
      assert.equal(r.hangup_cause, 'normal');
      assert.equal(r.hangup_by, 'caller');
    }
    // The outage really reached the writer, and the spool took what the database refused.
    assert.ok(measured.cdrWriteFailures >= 1, 'a CDR write failed during the outage');
    assert.ok(endedDuringOutage >= heldAcross.length, 'the calls held across the start ended during the outage');
    assert.ok(spooledDuringOutage >= endedDuringOutage, `the records of the ${endedDuringOutage} calls that ended during the outage were spooled (${spooledDuringOutage})`);
    assert.equal(drained, appended, 'everything spooled was drained');
    assert.deepEqual(
      readdirSync(path.join(s.db.dir, 'spool')).filter((f) => f.endsWith('.jsonl')),
      [],
      'no spool file left',
    );
    // Exactly once: one record per call the switch handled, none missing, none twice, no others.
    assert.deepEqual(
      [...ended.values()].filter((c) => c !== 1),
      [],
      'call.ended once per call',
    );
    assert.equal(rows.length, ended.size, 'one record per call');
    assert.equal(new Set(rows.map((r) => r.call_id)).size, rows.length, 'no call has two records');
    assert.deepEqual(new Set(rows.map((r) => r.call_id)), new Set(ended.keys()), 'the records are those of the calls handled');
    // And every call sipp completed (answered, then ended by its BYE) is among them.
    assert.equal(rows.filter((r) => r.status === 'answered').length, succeeded, 'an answered record for every call sipp completed');
    // New calls and REGISTERs during the outage work from what the node knows: every call placed
    // was completed and has exactly its one record.
    assert.equal(n(during.calls, 'FailedCall(C)'), 0, `calls placed during the outage: ${measured.callsBySipp.during}`);
    assert.equal(n(during.regs, 'FailedCall(C)'), 0, `REGISTERs during the outage: ${measured.registrationsBySipp.during}`);
    assert.equal(succeeded, placed, 'every call placed succeeded');
    assert.equal(rows.length, placed, 'one record for every call placed');
  });
});
