/**
 * One stop request, one graceful stop, however the signal arrives. The switch runs as an operator
 * runs it, in a process group of its own: `npm start`, or `node --import tsx server/main.ts` as a
 * process manager starts it. A SIGTERM to the whole group (`kill -- -PGID`, systemd's default
 * KillMode, a container runtime) reaches every process in it, npm, the shell and the dialplan
 * workers included: the switch must still drain (a call ringing when the signal came connects),
 * stop and exit 0, instead of reading a duplicate as "SIGTERM again: exit now". A human's second
 * Ctrl-C, well after the first, still forces the exit.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { dialplanSource, newTenant } from '../calls/harness.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { answeredBy, ack, header, isFinalFor, isRequest, sdp, tagOf, uriOf } from '../helpers/sipDialog.ts';
import type { TestSwitch } from '../helpers/switch.ts';
import { freeUdpTcpPort, waitFor } from '../interop/tools.ts';
import { elapse } from '../helpers/time.ts';
import { testMediaEnv } from '../helpers/mediaPorts.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface GroupLeader {
  child: ChildProcess;
  /** The process group: the leader's pid. */
  pgid: number;
  sipPort: number;
  httpUrl: string;
  output(): string;
  /** The switch's JSON log lines (npm's own lines are skipped). */
  logLines(): Array<{ msg: string; pid: number; level: number; exitCode?: number }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `command` as the leader of a new process group, with the switch's settings in its environment. */
async function startInOwnGroup(command: string, args: string[], dataDir: string, env: Record<string, string> = {}): Promise<GroupLeader> {
  const sipPort = await freeUdpTcpPort();
  const httpPort = await freeUdpTcpPort();
  const child = spawn(command, args, {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      SIP_HOST: '127.0.0.1',
      SIP_PORT: String(sipPort),
      SIP_DOMAIN: '127.0.0.1',
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: String(httpPort),
      // Not the defaults (5061, 8443): another test's switch may hold them.
      SIP_TLS_PORT: '0',
      HTTPS_PORT: '0',
      DATA_DIR: dataDir,
      NODE_ID: 'signal-node',
      LOG_LEVEL: 'info',
      LOG_PRETTY: 'false',
      HTTP_SIGNUPS_PER_HOUR: '10000',
      DIALPLAN_WORKERS: '1',
      SECRET_KEY: randomBytes(24).toString('hex'),
      CREDENTIALS_KEY: randomBytes(32).toString('hex'),
      // The embedded relay: an rtpengine kept running for calls the next start would take over
      // would outlive a test that never starts again.
      ...testMediaEnv(),
      ...env,
    },
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const leader: GroupLeader = {
    child,
    pgid: child.pid!,
    sipPort,
    httpUrl: `http://127.0.0.1:${httpPort}`,
    output: () => out,
    logLines: () =>
      out.split('\n').flatMap((l) => {
        try {
          const v = JSON.parse(l) as { msg?: unknown };
          return typeof v?.msg === 'string' ? [v as { msg: string; pid: number; level: number }] : [];
        } catch {
          return [];
        }
      }),
    exited,
  };
  // `npm start` may build the portal first (its prestart): allow for that.
  await waitFor(`the switch (${command}) ready on ${leader.httpUrl}`, 240_000, async () => {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode} while starting:\n${out.slice(-3000)}`);
    return (
      (await fetch(`${leader.httpUrl}/readyz`).then(
        (r) => r.ok,
        () => false,
      )) || undefined
    );
  });
  return leader;
}

/** Whether a process (not necessarily our child) still exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Every process of the group still there gets SIGKILL (cleanup after a failed test). */
function killGroup(g: GroupLeader | undefined): void {
  if (!g) return;
  try {
    process.kill(-g.pgid, 'SIGKILL');
  } catch {
    /* gone already */
  }
}

/**
 * A stranger's call to an account whose dialplan rings its one phone: resolves once the phone
 * rings (it answered 180), with a function that answers it and resolves with the caller's final
 * response (ACKed if 2xx).
 */
async function ringingCall(sw: { sipPort: number; httpUrl: string }, phones: TestPhone[]) {
  const t = await newTenant(sw as unknown as TestSwitch);
  const alice = await t.account();
  // The dialplan waits in its worker for the dial's outcome while the phone rings.
  await t.dialplan('ring', dialplanSource(`  const r = await dial('${alice.username}', { timeout: 60 });\n  log('dialled ' + r.result);`));
  assert.equal((await t.api.patch(`/sip-accounts/${alice.id}`, { dialplanIn: 'ring' })).status, 200);
  const desk = await TestPhone.open('udp', sw.sipPort);
  const caller = await TestPhone.open('udp', sw.sipPort);
  phones.push(desk, caller);
  assert.equal((await desk.register({ user: alice.username, password: alice.password, expires: 300 })).final.status, 200);

  const callId = `${randomBytes(6).toString('hex')}@caller`;
  const invite = caller.build({
    method: 'INVITE',
    uri: `sip:${alice.username}@127.0.0.1:${sw.sipPort}`,
    to: `sip:${alice.username}@127.0.0.1`,
    from: 'sip:stranger@127.0.0.1',
    callId,
    headers: [`Contact: <sip:stranger@127.0.0.1:${caller.localPort}>`, 'Content-Type: application/sdp'],
    body: sdp('caller'),
  });
  caller.sendRaw(invite.text);
  const incoming = await desk.waitFor(isRequest('INVITE'), 10_000);
  desk.reply(incoming, 180, 'Ringing');
  await caller.waitFor((r) => r.startsWith('SIP/2.0 180') && r.includes(invite.branch), 5000);
  return {
    /** The phone answers; resolves with the caller's final response. */
    answer: async (): Promise<string> => {
      desk.reply(incoming, 200, 'OK', ['Content-Type: application/sdp'], sdp('desk'));
      const final = await caller.waitFor(isFinalFor(invite.branch), 10_000);
      if (final.startsWith('SIP/2.0 200')) {
        ack(
          caller,
          {
            callId,
            localTag: caller.fromTag,
            remoteTag: tagOf(header(final, 'To'))!,
            localUri: 'sip:stranger@127.0.0.1',
            remoteUri: `sip:${alice.username}@127.0.0.1`,
            remoteTarget: uriOf(header(final, 'Contact')),
            cseq: invite.cseq,
          },
          invite.cseq,
        );
        // The phone's side of the dialog, so the switch's ACK to it is not left unmatched.
        answeredBy(desk, incoming);
      }
      return final;
    },
  };
}

describe('stop signals sent to the process group', () => {
  const dirs: string[] = [];
  const groups: GroupLeader[] = [];
  const phones: TestPhone[] = [];
  after(() => {
    for (const p of phones) p.close();
    for (const g of groups) killGroup(g);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const dataDir = () => {
    const d = mkdtempSync(path.join(tmpdir(), 'sipswitch-signals-'));
    dirs.push(d);
    return d;
  };

  test('`npm start`, then SIGTERM to its process group while a call rings: the call connects, the switch stops gracefully once', { timeout: 300_000 }, async () => {
    const g = await startInOwnGroup('npm', ['start', '--silent'], dataDir());
    groups.push(g);
    const call = await ringingCall(g, phones);
    const switchPid = g.logLines().find((l) => l.msg.startsWith('switch ready'))?.pid;
    assert.ok(switchPid, `the switch logged that it is ready:\n${g.output().slice(-2000)}`);

    process.kill(-g.pgid, 'SIGTERM');
    await waitFor('the switch to take the stop request', 10_000, async () => g.logLines().some((l) => l.msg.startsWith('SIGTERM: refusing new calls')) || undefined);
    const final = await call.answer();
    assert.match(final, /^SIP\/2\.0 200 /, `the call ringing when the signal came connects:\n${final}\n${g.output().slice(-3000)}`);

    await waitFor('the switch process to end', 60_000, async () => !alive(switchPid) || undefined);
    const lines = g.logLines();
    const text = lines.map((l) => l.msg).join('\n');
    assert.equal(lines.filter((l) => /^SIG(TERM|INT): refusing new calls/.test(l.msg)).length, 1, `one stop request:\n${text}`);
    assert.ok(!lines.some((l) => /exiting now/.test(l.msg)), `no forced exit:\n${text}`);
    assert.ok(!lines.some((l) => l.msg === 'dialplan worker died'), `the dialplan workers were not killed by the signal:\n${text}`);
    const stopped = lines.find((l) => l.msg === 'stopped');
    assert.ok(stopped, `the switch says it stopped:\n${text}`);
    assert.equal(stopped.exitCode, 0, 'and exits 0');
  });

  test(
    '`npm start`, then SIGTERM to npm alone (a supervisor that signals only its child): the switch stops gracefully and no process is left behind',
    { timeout: 300_000 },
    async () => {
      const g = await startInOwnGroup('npm', ['start', '--silent'], dataDir());
      groups.push(g);
      const switchPid = g.logLines().find((l) => l.msg.startsWith('switch ready'))?.pid;
      assert.ok(switchPid, `the switch logged that it is ready:\n${g.output().slice(-2000)}`);
      process.kill(g.pgid, 'SIGTERM');
      await waitFor('the switch process to end', 60_000, async () => !alive(switchPid) || undefined);
      const stopped = g.logLines().find((l) => l.msg === 'stopped');
      assert.ok(stopped, `the switch took the signal and stopped:\n${g.output().slice(-3000)}`);
      assert.equal(stopped.exitCode, 0);
      await g.exited;
    },
  );

  test('run as a process manager runs it (node, no npm): SIGTERM to the group, relayed again a moment later, is one graceful stop, exit code 0', { timeout: 120_000 }, async () => {
    const g = await startInOwnGroup(process.execPath, ['--import', 'tsx', 'server/main.ts'], dataDir());
    groups.push(g);
    const call = await ringingCall(g, phones);

    // A manager that signals the group, then a wrapper relaying the same signal a moment later.
    process.kill(-g.pgid, 'SIGTERM');
    await waitFor('the switch to take the stop request', 10_000, async () => g.logLines().some((l) => l.msg.startsWith('SIGTERM: refusing new calls')) || undefined);
    process.kill(-g.pgid, 'SIGTERM');
    const final = await call.answer();
    assert.match(final, /^SIP\/2\.0 200 /, `the call ringing when the signals came connects:\n${final}\n${g.output().slice(-3000)}`);
    const { code, signal } = await g.exited;
    const text = g
      .logLines()
      .map((l) => l.msg)
      .join('\n');
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, `graceful exit:\n${text}`);
    assert.ok(!/exiting now/.test(text), text);
  });

  test('a human at a terminal: a second Ctrl-C (SIGINT to the group) well after the first forces the exit', { timeout: 120_000 }, async () => {
    const g = await startInOwnGroup(process.execPath, ['--import', 'tsx', 'server/main.ts'], dataDir(), { SHUTDOWN_GRACE_SECONDS: '120' });
    groups.push(g);
    // A call that keeps ringing keeps the graceful stop waiting.
    await ringingCall(g, phones);
    process.kill(-g.pgid, 'SIGINT');
    await waitFor('the switch to take the stop request', 10_000, async () => g.logLines().some((l) => l.msg.startsWith('SIGINT: refusing new calls')) || undefined);
    // A person reads the log line, waits, and presses Ctrl-C again (2 s or more later forces the exit).
    await elapse(3000);
    assert.equal(g.child.exitCode, null, 'still draining: the call rings');
    process.kill(-g.pgid, 'SIGINT');
    const { code } = await g.exited;
    assert.equal(code, 1, g.output().slice(-2000));
    assert.ok(
      g.logLines().some((l) => l.msg === 'SIGINT again: exiting now'),
      g.output().slice(-2000),
    );
  });
});
