/**
 * Two real phones: baresip registered to two accounts of one tenant; alice calls bob through the
 * tenant's `default` dialplan (which dials the called account), bob's baresip answers by itself
 * (answermode=auto), alice hangs up. The call is answered and hung up cleanly on both phones, the
 * events are in order, and its record appears in GET /api/v1/cdrs.
 *
 * The phones are driven over baresip's ctrl_tcp module (netstring-framed JSON commands `dial`,
 * `hangup`, answered with responses and call events), headless: no audio devices, the `aubridge`
 * module stands in for both the player and the source, and G.711 is the codec.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { elapse } from '../helpers/time.ts';
import { exitOf, freeUdpTcpPort, skipWithout, startTool, waitFor, type Finished } from '../interop/tools.ts';
import { assertBetween, dialplanSource, EventLog, newTenant, recordOf, sleep, type Account } from './harness.ts';

const noBaresip = skipWithout('baresip', 'baresip');

interface Phone {
  name: string;
  listenPort: number;
  output(): string;
  exited: Promise<Finished>;
  kill(): void;
  /** SIGTERM (baresip de-registers and quits), SIGKILL if it is still there after 5 s. */
  stop(): Promise<void>;
  /** Sends a ctrl_tcp command; resolves with its response. */
  command(command: string, params?: string): Promise<{ ok: boolean; data?: string }>;
  /** Events baresip reported over ctrl_tcp (`CALL_RINGING`, `CALL_ESTABLISHED`, `CALL_CLOSED`, …). */
  events: Array<{ type: string; param?: string }>;
  close(): void;
}

/** Netstrings: `<length>:<bytes>,`. */
function netstring(s: string): string {
  return `${Buffer.byteLength(s)}:${s},`;
}

async function startPhone(dir: string, name: string, account: Account, sipPort: number, answer: 'manual' | 'auto'): Promise<Phone> {
  const home = mkdtempSync(path.join(dir, `${name}-`));
  const listenPort = await freeUdpTcpPort();
  const ctrlPort = await freeUdpTcpPort();
  writeFileSync(
    path.join(home, 'config'),
    [
      'poll_method\tepoll',
      `sip_listen\t127.0.0.1:${listenPort}`,
      'dns_server\t127.0.0.1:53',
      'module_path\t/usr/lib/baresip/modules',
      'module\tg711.so',
      'module\taubridge.so',
      'module_tmp\taccount.so',
      'module_app\tmenu.so',
      'module_app\tctrl_tcp.so',
      `ctrl_tcp_listen\t127.0.0.1:${ctrlPort}`,
      `audio_player\taubridge,${name}`,
      `audio_source\taubridge,${name}`,
    ].join('\n') + '\n',
  );
  writeFileSync(
    path.join(home, 'accounts'),
    `<sip:${account.username}@127.0.0.1>;auth_pass=${account.password};outbound="sip:127.0.0.1:${sipPort};transport=udp";regint=60;answermode=${answer};audio_codecs=PCMU\n`,
  );
  const tool = startTool('baresip', ['-4', '-f', home, '-t', '60'], home);
  const pid = tool.child.pid!;
  const exited = exitOf(tool.child, 70_000, tool.output);
  const running = () => tool.child.exitCode === null && tool.child.signalCode === null;
  const kill = () => {
    if (running()) process.kill(pid, 'SIGKILL');
  };
  const stop = async () => {
    if (!running()) return;
    process.kill(pid, 'SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    kill();
  };

  const socket = await waitFor(`${name}'s ctrl_tcp on ${ctrlPort}`, 10_000, async () => {
    if (tool.child.exitCode !== null) throw new Error(`baresip ${name} exited:\n${tool.output()}`);
    return new Promise<net.Socket | undefined>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: ctrlPort });
      s.once('connect', () => resolve(s));
      s.once('error', () => resolve(undefined));
    });
  });
  socket.on('error', () => {});
  let buffer = '';
  const events: Phone['events'] = [];
  const pending = new Map<string, (r: { ok: boolean; data?: string }) => void>();
  socket.on('data', (d) => {
    buffer += d.toString('utf8');
    for (;;) {
      const m = /^(\d+):/.exec(buffer);
      if (!m) return;
      const len = Number(m[1]);
      const start = m[0].length;
      if (buffer.length < start + len + 1) return;
      const json = buffer.slice(start, start + len);
      buffer = buffer.slice(start + len + 1);
      try {
        const msg = JSON.parse(json) as { event?: boolean; type?: string; param?: string; response?: boolean; ok?: boolean; data?: string; token?: string };
        if (msg.event && msg.type) events.push({ type: msg.type, ...(msg.param ? { param: msg.param } : {}) });
        else if (msg.response && msg.token) pending.get(msg.token)?.({ ok: Boolean(msg.ok), ...(msg.data ? { data: msg.data } : {}) });
      } catch {
        /* not JSON: ignore */
      }
    }
  });
  let tokens = 0;
  return {
    name,
    listenPort,
    output: tool.output,
    exited,
    kill,
    stop,
    events,
    command(command, params) {
      const token = `t${++tokens}`;
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`${name}: no response to ${command}`)), 5000);
        pending.set(token, (r) => {
          clearTimeout(t);
          resolve(r);
        });
        socket.write(netstring(JSON.stringify({ command, ...(params ? { params } : {}), token })));
      });
    },
    close: () => socket.destroy(),
  };
}

describe('two baresip phones call each other (sqlite)', { skip: noBaresip, timeout: 60_000 }, () => {
  let sw: TestSwitch;
  const dir = mkdtempSync(path.join(tmpdir(), 'sipswitch-baresip-call-'));
  const phones: Phone[] = [];
  let log: EventLog | undefined;

  before(async () => {
    sw = await startTestSwitch('sqlite');
  });
  after(async () => {
    await Promise.all(
      phones.map(async (p) => {
        p.close();
        await p.stop();
      }),
    );
    log?.stop();
    await sw?.close();
    if (!process.env.KEEP_TRACES) rmSync(dir, { recursive: true, force: true });
  });

  test('alice dials bob through the default dialplan; bob auto-answers; alice hangs up; the record is listed', async () => {
    const t = await newTenant(sw);
    log = new EventLog(sw, t.id);
    const alice = await t.account();
    const bob = await t.account();
    await t.dialplan('default', dialplanSource(`  log('call ' + call.from.user + ' -> ' + call.to.user);\n  await dial(call.to.user, { timeout: 15 });`));

    const a = await startPhone(dir, 'alice', alice, sw.sipPort, 'manual');
    phones.push(a);
    const b = await startPhone(dir, 'bob', bob, sw.sipPort, 'auto');
    phones.push(b);
    const registered = async (username: string) => {
      const r = await t.api.get('/registrations');
      return (r.body.items as Array<{ username: string }>).some((x) => x.username === username) ? true : undefined;
    };
    await waitFor('both phones registered', 15_000, async () => ((await registered(alice.username)) && (await registered(bob.username))) || undefined);

    const dialled = await a.command('dial', `sip:${bob.username}@127.0.0.1`);
    assert.ok(dialled.ok, `dial accepted: ${JSON.stringify(dialled)}\n${a.output().slice(-3000)}`);
    const upOn = (p: Phone) => waitFor(`${p.name}: call established`, 15_000, async () => (p.events.some((e) => e.type === 'CALL_ESTABLISHED') ? true : undefined));
    await Promise.all([upOn(a), upOn(b)]).catch((err: Error) => {
      throw new Error(`${err.message}\nswitch events:\n${log!.summary().join('\n')}\nalice:\n${a.output().slice(-3000)}\nbob:\n${b.output().slice(-3000)}`);
    });
    // Talk for a second (the record's talk time is checked below).
    await elapse(1000);
    const hung = await a.command('hangup');
    assert.ok(hung.ok, `hangup accepted: ${JSON.stringify(hung)}`);
    const closedOn = (p: Phone) => waitFor(`${p.name}: call closed`, 10_000, async () => (p.events.some((e) => e.type === 'CALL_CLOSED') ? true : undefined));
    await Promise.all([closedOn(a), closedOn(b)]);

    await log.ended();
    log.assertWellFormed();
    assert.deepEqual(log.lifeOf('A'), ['created', 'ringing', 'up', 'hungup normal caller']);
    assert.deepEqual(log.lifeOf('B'), ['created', 'ringing', 'up', 'hungup normal caller']);
    log.assertInOrder([
      'channel.created A',
      'dialplan.started default',
      'channel.created B',
      'channel.state A up',
      'bridge.created',
      'channel.hungup A normal caller',
      'channel.hungup B normal caller',
      'call.ended',
    ]);
    // Each phone saw the other party, and the call end it should: alice hung up, bob got a BYE.
    assert.equal(a.events.find((e) => e.type === 'CALL_ESTABLISHED')?.param, `sip:${bob.username}@127.0.0.1`);
    assert.equal(b.events.find((e) => e.type === 'CALL_ESTABLISHED')?.param, `sip:${alice.username}@127.0.0.1`, 'bob sees alice as the caller');
    assert.equal(a.events.find((e) => e.type === 'CALL_CLOSED')?.param, 'Connection reset by user');
    assert.equal(b.events.find((e) => e.type === 'CALL_CLOSED')?.param, 'Connection reset by peer');

    const cdr = await recordOf(sw, t, log.events[0]!.callId);
    assert.equal(cdr.status, 'answered');
    assert.equal(cdr.sipStatus, 200);
    assert.equal(cdr.direction, 'local');
    assert.equal(cdr.caller, alice.username);
    assert.equal(cdr.callee, bob.username);
    assert.equal(cdr.hangupCause, 'normal');
    assert.equal(cdr.hangupBy, 'caller');
    assert.equal(cdr.legs.length, 2);
    assertBetween('talkMs', cdr.talkMs, 800, 10_000);

    // Both phones stay registered and idle: nothing was left hanging.
    for (const p of [a, b]) {
      const list = await p.command('listcalls');
      assert.ok(list.ok);
      assert.doesNotMatch(list.data ?? '', /ESTABLISHED|RINGING/, `${p.name} has no call left: ${list.data}`);
    }
  });
});
