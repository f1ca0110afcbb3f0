/**
 * One source flooding the switch with junk over UDP does not starve another: while 127.0.0.1
 * sends a bounded flood (garbage, requests without credentials, requests with forged
 * credentials), sipp registers from 127.0.0.2 and at least 99 % of its registrations succeed.
 * The switch runs as its own process, as it would in production, and the flood comes from
 * another process, so neither shares an event loop with the switch.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { createSipAccount, signUp } from '../helpers/api.ts';
import { spawnSwitch, type ProcessSwitch } from '../helpers/processSwitch.ts';
import { exitOf, lastSippStats, startTool, skipWithout } from '../interop/tools.ts';

const SCENARIO = fileURLToPath(new URL('../fixtures/sipp/reg_auth.xml', import.meta.url));
const noSipp = skipWithout('sipp', 'sip-tester');

/** At most this many datagrams, for at most this long: the flood is bounded whatever happens. */
const FLOOD_PACKETS = 600_000;
const FLOOD_MS = 30_000;
const REGISTRATIONS = 200;
/**
 * Junk datagrams per second: more than the switch could parse and answer (before the fair inbox
 * and the proof-of-source flood limit, 20,000/s let a third of these registrations through on this
 * machine), well below what it can read and drop (on a loaded 2-core machine it has taken 100,000/s).
 */
const FLOOD_PER_SECOND = 20_000;

/**
 * The flooder, run as its own Node process: as fast as the socket takes them, cycles through
 * garbage, OPTIONS without credentials and REGISTERs with made-up credentials, each with a new
 * branch, until it has sent `count` datagrams, `ms` have passed, or it receives SIGTERM.
 */
const FLOODER = `
const dgram = require('node:dgram');
const [port, count, ms, rate] = process.argv.slice(1).map(Number);
const s = dgram.createSocket('udp4');
let sent = 0;
const finish = () => { process.stdout.write(String(sent)); process.exit(0); };
process.on('SIGTERM', finish);
s.on('error', () => {});
s.bind(0, '127.0.0.1', () => {
  const lport = s.address().port;
  const start = Date.now();
  const junk = (i) => {
    const branch = 'z9hG4bKflood' + i;
    const head = (m, extra) => m + ' sip:127.0.0.1:' + port + ' SIP/2.0\\r\\nVia: SIP/2.0/UDP 127.0.0.1:' + lport + ';branch=' + branch + ';rport\\r\\nFrom: <sip:f' + (i % 97) + '@127.0.0.1>;tag=' + i + '\\r\\nTo: <sip:f' + (i % 97) + '@127.0.0.1>\\r\\nCall-ID: ' + i + '@flood\\r\\nCSeq: 1 ' + m + '\\r\\nMax-Forwards: 70\\r\\n' + extra + 'Content-Length: 0\\r\\n\\r\\n';
    switch (i % 3) {
      case 0: return Buffer.from('\\x16\\x03\\x01junk junk junk ' + i + ' '.repeat(i % 200));
      case 1: return Buffer.from(head('OPTIONS', ''));
      default: return Buffer.from(head('REGISTER', 'Authorization: Digest username="f' + (i % 97) + '", realm="127.0.0.1", nonce="' + i + '", uri="sip:127.0.0.1", response="0123456789abcdef0123456789abcdef", qop=auth, nc=00000001, cnonce="x"\\r\\n'));
    }
  };
  const burst = () => {
    const elapsed = Date.now() - start;
    if (sent >= count || elapsed > ms) finish();
    // Paced at the rate, one burst per turn of the event loop so that sends complete and memory stays flat.
    const due = Math.min(count, Math.floor((elapsed / 1000) * rate) + 64);
    for (let k = 0; k < 64 && sent < due; k++) s.send(junk(sent++), port, '127.0.0.1');
    setImmediate(burst);
  };
  burst();
});
`;

describe('a UDP flood from one source', { skip: noSipp, timeout: 120_000 }, () => {
  let sw: ProcessSwitch;
  let dir: string;
  before(async () => {
    sw = await spawnSwitch({ LOG_LEVEL: 'warn' });
    dir = mkdtempSync(path.join(tmpdir(), 'sipswitch-fairness-'));
  });
  after(async () => {
    await sw?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('does not starve registrations from another source (>= 99 % succeed)', async (t) => {
    const api = await signUp(sw.httpUrl);
    const accounts = await Promise.all(Array.from({ length: 20 }, () => createSipAccount(api)));
    const csv = path.join(dir, 'users.csv');
    writeFileSync(csv, ['SEQUENTIAL', ...accounts.map((a) => `${a.username};${a.password};[authentication username=${a.username} password=${a.password}]`)].join('\n') + '\n');
    const stf = path.join(dir, 'stat.csv');

    const flooder = spawn(process.execPath, ['-e', FLOODER, String(sw.sipPort), String(FLOOD_PACKETS), String(FLOOD_MS), String(FLOOD_PER_SECOND)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let floodSent = '';
    flooder.stdout!.on('data', (d: Buffer) => (floodSent += d.toString()));
    const flooding = exitOf(flooder, FLOOD_MS + 5000, () => floodSent);
    try {
      const sipp = startTool(
        'sipp',
        [
          `127.0.0.1:${sw.sipPort}`,
          '-sf',
          SCENARIO,
          '-inf',
          csv,
          '-i',
          '127.0.0.2',
          '-t',
          'u1',
          '-r',
          '40',
          '-m',
          String(REGISTRATIONS),
          '-d',
          '0',
          '-timeout',
          '25s',
          '-nostdin',
          // A phone that hears nothing for 4 s has had a bad time: that registration counts as failed.
          '-recv_timeout',
          '4000',
          '-max_retrans',
          '3',
          '-trace_stat',
          '-fd',
          '1',
          '-stf',
          stf,
        ],
        dir,
      );
      const done = await exitOf(sipp.child, 40_000, sipp.output);
      const stats = existsSync(stf) ? lastSippStats(stf) : {};
      const ok = Number(stats['SuccessfulCall(C)'] ?? 0);
      const metrics = await (await fetch(`${sw.httpUrl}/metrics`)).text();
      for (const line of metrics.split('\n').filter((l) => /^sip_messages_(dropped|received)_total/.test(l))) t.diagnostic(line);
      t.diagnostic(`registrations: ${ok} succeeded, ${stats['FailedCall(C)']} failed`);
      assert.ok(flooder.exitCode === null, 'the flood lasted as long as the registrations (else the test measured nothing)');
      assert.ok(ok >= REGISTRATIONS * 0.99, `${ok} of ${REGISTRATIONS} registrations succeeded during the flood\n${done.output.slice(-1500)}`);
    } finally {
      flooder.kill('SIGTERM');
      t.diagnostic(`flood datagrams sent: ${(await flooding).output}`);
    }
  });
});
