/**
 * A crash costs a few seconds and nothing else: the switch is killed with SIGKILL in the middle of
 * a call and started again on the same data; the call carries on (CANCEL, answer, BYE) and its
 * record is completed. The sipp peers see ordinary SIP flows.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { after, before, describe, test } from 'node:test';
import type { CdrView } from '../../contract/cdrs.ts';
import { persistedCallSchema } from '../../server/calls/persistedCall.ts';
import { spawnSwitch, type ProcessSwitch } from '../helpers/processSwitch.ts';
import { answering, autoAnswer, placeAuthenticated } from '../helpers/sipDialog.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { skipWithout } from '../interop/tools.ts';
import {
  assertSippOk,
  dialplanSource,
  flowOf,
  newTenant,
  registeredUas,
  scenario,
  scratch,
  sleep,
  startSipp,
  type SippPeer,
  type SippResult,
  type Tenant,
} from '../calls/harness.ts';
import type { TestSwitch } from '../helpers/switch.ts';
import { eventually } from '../helpers/time.ts';
import type { LiveCall } from '../../web/src/api/types.ts';

const skip = skipWithout('sipp', 'sip-tester');
/**
 * How long each peer waits in all. A restart in the middle of a call takes a few seconds, more on
 * a loaded machine: sipp's default of 15 s let a peer give up while the node was still starting.
 */
const PEER_TIMEOUT_S = 60;

/** The state of each channel the node persisted for its live calls (read from its SQLite file). */
function persistedChannelStates(dataDir: string): Map<string, string> {
  const db = new SQLite(path.join(dataDir, 'switch.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT state FROM live_calls').all() as Array<{ state: string }>;
    return new Map(rows.flatMap((r) => persistedCallSchema.parse(JSON.parse(r.state)).channels.map((c) => [c.snapshot.id, c.snapshot.state] as const)));
  } finally {
    db.close();
  }
}

/** The one record of a tenant's only call, once it is written (the process owns the writer). */
async function onlyRecord(t: Tenant): Promise<CdrView> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const list = await t.api.get('/cdrs?limit=10');
    if (list.body.items?.length) {
      assert.equal(list.body.items.length, 1, `one record: ${JSON.stringify(list.body.items)}`);
      return (await t.api.get(`/cdrs/${list.body.items[0].id}`)).body;
    }
    if (Date.now() > deadline) assert.fail('no call record within 10 s');
    await sleep(100);
  }
}

/** A peer's run, which must have succeeded. */
async function done(name: string, p: SippPeer): Promise<SippResult> {
  const r = await p.done;
  assertSippOk({ [name]: r });
  return r;
}

/** Until the live view shows `channels` outbound channels ringing. */
async function waitUntilRinging(t: Tenant, channels: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const live = await t.api.get('/calls');
    const ringing = (live.body.items?.[0]?.channels ?? []).filter((c: { direction: string; state: string }) => c.direction === 'outbound' && c.state === 'ringing');
    if (ringing.length >= channels) return;
    if (Date.now() > deadline) assert.fail(`not ${channels} ringing branches within 10 s: ${JSON.stringify(live.body)}`);
    await sleep(50);
  }
}

async function waitUntilUp(t: Tenant): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const live = await t.api.get('/calls');
    const chans = live.body.items?.[0]?.channels ?? [];
    if (chans.length >= 2 && chans.every((c: { state: string }) => c.state === 'up')) return;
    if (Date.now() > deadline) assert.fail(`call not up within 10 s: ${JSON.stringify(live.body)}`);
    await sleep(50);
  }
}

describe('restart in the middle of a call, and graceful shutdown', { skip }, () => {
  let sw: ProcessSwitch;
  const tmp = scratch();
  const peers: SippPeer[] = [];
  // The harness's helpers need only the addresses of the switch.
  const asTestSwitch = () => ({ sipPort: sw.sipPort, httpUrl: sw.httpUrl }) as unknown as TestSwitch;

  before(async () => {
    sw = await spawnSwitch();
  });
  after(async () => {
    for (const p of peers) p.kill();
    await sw?.close();
    tmp.remove();
  });

  /**
   * A flow with a message sent again right after itself shown once: a peer retransmits until it
   * is answered, and one that acts while the node is still starting (a slow start on a loaded
   * machine) sends a few that reach no one.
   */
  const sentOnce = (flow: string[]) => flow.filter((k, i) => !(k.startsWith('>') && flow[i - 1] === k));

  async function crashAndRestart(t: Tenant): Promise<void> {
    // Persisted state is flushed every 100 ms: wait until it says what the live view says.
    await eventually('the live calls persisted as the live view shows them', async () => {
      const live = (await t.api.get<{ items: LiveCall[] }>('/calls')).body.items;
      const stored = persistedChannelStates(sw.dataDir);
      return live.length > 0 && live.every((c) => c.channels.every((ch) => stored.get(ch.id) === ch.state));
    });
    await sw.kill();
    await sw.start();
  }

  test('ringing on two branches, SIGKILL, restart, then the caller cancels: both branches are cancelled', async () => {
    const t = await newTenant(asTestSwitch());
    const alice = await t.account();
    const bob = await t.account();
    const desk = await t.account();
    await t.dialplan('both', dialplanSource(`  await dial('${alice.username} & ${bob.username}', { timeout: 60 });`));
    assert.equal((await t.api.patch(`/sip-accounts/${desk.id}`, { dialplanIn: 'both' })).status, 200);
    const a = await registeredUas(asTestSwitch(), tmp.dir, alice, 'uas_ring_until_cancel.xml', { party: 'alice' }, 500, PEER_TIMEOUT_S);
    const b = await registeredUas(asTestSwitch(), tmp.dir, bob, 'uas_ring_until_cancel.xml', { party: 'bob' }, 500, PEER_TIMEOUT_S);
    peers.push(a, b);
    // The caller hears ringing, waits 6 s (the restart happens then) and cancels.
    const caller = await startSipp({
      dir: tmp.dir,
      name: 'caller-cancel',
      scenario: scenario('uac_cancel.xml'),
      remote: `127.0.0.1:${sw.sipPort}`,
      service: desk.username,
      pauseMs: 6000,
      timeoutS: PEER_TIMEOUT_S,
    });
    peers.push(caller);
    await waitUntilRinging(t, 2);
    await crashAndRestart(t);

    const callerRun = await done('caller', caller);
    assert.deepEqual(
      sentOnce(flowOf(callerRun.messages)).filter((k) => k !== '<100' && k !== '<180'),
      ['>INVITE', '>CANCEL', '<200', '<487', '>ACK'],
    );
    for (const [name, p] of [
      ['alice', a],
      ['bob', b],
    ] as const) {
      const r = await done(name, p);
      assert.deepEqual(flowOf(r.messages), ['<INVITE', '>180', '<CANCEL', '>200', '>487', '<ACK'], name);
    }
    const record = await onlyRecord(t);
    assert.equal(record.status, 'cancelled');
    assert.equal(record.hangupBy, 'caller');
    assert.equal(record.legs.length, 3);
  });

  test('ringing, SIGKILL, restart, then the callee answers: the answer reaches the caller and the call ends normally', async () => {
    const t = await newTenant(asTestSwitch());
    const alice = await t.account();
    // The callee rings 5 s before it answers: the restart happens in between.
    const callee = await registeredUas(asTestSwitch(), tmp.dir, alice, 'uas_ring_then_answer.xml', { party: 'alice' }, 5000, PEER_TIMEOUT_S);
    peers.push(callee);
    const caller = await startSipp({
      dir: tmp.dir,
      name: 'caller-answered',
      scenario: scenario('uac_call.xml'),
      remote: `127.0.0.1:${sw.sipPort}`,
      service: alice.username,
      pauseMs: 1000,
      timeoutS: PEER_TIMEOUT_S,
    });
    peers.push(caller);
    await waitUntilRinging(t, 1);
    const killedAt = Date.now();
    await crashAndRestart(t);

    const callerRun = await done('caller', caller);
    assert.deepEqual(
      flowOf(callerRun.messages).filter((k) => k !== '<100' && k !== '<180'),
      ['>INVITE', '<200', '>ACK', '>BYE', '<200'],
    );
    const calleeRun = await done('callee', callee);
    assert.deepEqual(sentOnce(flowOf(calleeRun.messages)), ['<INVITE', '>180', '>200', '<ACK', '<BYE', '>200']);
    const record = await onlyRecord(t);
    assert.equal(record.status, 'answered');
    assert.equal(record.hangupBy, 'caller');
    assert.ok(Date.parse(record.answeredAt!) > killedAt, `answered after the restart: ${record.answeredAt}`);
    assert.ok(Date.parse(record.ringingAt!) < killedAt, `ringing before it: ${record.ringingAt}`);
  });

  for (const side of ['caller', 'callee'] as const) {
    test(`established, SIGKILL, restart, then the ${side} hangs up: the BYE reaches the other side and the record is complete`, async () => {
      const t = await newTenant(asTestSwitch());
      const alice = await t.account();
      // Whoever hangs up waits 6 s after the answer: long enough for the crash and restart.
      const calleeFile = side === 'callee' ? 'uas_answer_hangup.xml' : 'uas_answer.xml';
      const callerFile = side === 'caller' ? 'uac_call.xml' : 'uac_call_wait_bye.xml';
      const callee = await registeredUas(asTestSwitch(), tmp.dir, alice, calleeFile, { party: 'alice' }, 6000, PEER_TIMEOUT_S);
      peers.push(callee);
      const caller = await startSipp({
        dir: tmp.dir,
        name: `caller-${side}`,
        scenario: scenario(callerFile),
        remote: `127.0.0.1:${sw.sipPort}`,
        service: alice.username,
        pauseMs: 6000,
        timeoutS: PEER_TIMEOUT_S,
      });
      peers.push(caller);
      await waitUntilUp(t);
      const killedAt = Date.now();
      await crashAndRestart(t);

      await done('caller', caller);
      await done('callee', callee);
      const record = await onlyRecord(t);
      assert.equal(record.status, 'answered');
      assert.equal(record.hangupBy, side);
      assert.equal(record.hangupCause, 'normal');
      assert.ok(
        Date.parse(record.answeredAt!) < killedAt && Date.parse(record.endedAt) > killedAt,
        `answered before the crash, ended after it: ${record.answeredAt}, ${record.endedAt}`,
      );
      assert.ok(record.talkMs >= 5000, `talk time spans the restart: ${record.talkMs}`);
    });
  }

  test('established with a browser over ws://, SIGKILL, restart: its WebSocket went with the old run, so the call ends; the other side gets a BYE and the record says the connection was lost', async () => {
    const t = await newTenant(asTestSwitch());
    const [alice, bob] = [await t.account(), await t.account()];
    const httpPort = Number(new URL(sw.httpUrl).port);
    const browser = await TestPhone.open('ws', httpPort, '127.0.0.1', { origin: sw.httpUrl });
    const answers = autoAnswer(browser, 'browser');
    const desk = await TestPhone.open('udp', sw.sipPort);
    const byes = answering(desk);
    try {
      assert.equal((await browser.register({ user: bob.username, password: bob.password })).final.status, 200);
      const call = await placeAuthenticated(desk, sw.sipPort, alice, bob.username);
      await crashAndRestart(t);
      await desk.waitFor((m) => m.startsWith('BYE ') && m.includes(call.callId), 15_000);
      const record = await onlyRecord(t);
      assert.equal(record.status, 'answered');
      assert.deepEqual(record.legs.map((l) => [l.transport, l.hangupCause]).sort(), [
        ['udp', 'connection-lost'],
        ['ws', 'connection-lost'],
      ]);
    } finally {
      answers.stop();
      byes.stop();
      browser.close();
      desk.close();
    }
  });

  test('SIGTERM while a call rings: new calls get 503 with Retry-After, the ringing call connects, the node exits, and after the restart the call ends cleanly', async () => {
    const t = await newTenant(asTestSwitch());
    const alice = await t.account();
    const callee = await registeredUas(asTestSwitch(), tmp.dir, alice, 'uas_ring_then_answer.xml', { party: 'alice' }, 2000, PEER_TIMEOUT_S);
    peers.push(callee);
    const caller = await startSipp({
      dir: tmp.dir,
      name: 'caller-drain',
      scenario: scenario('uac_call.xml'),
      remote: `127.0.0.1:${sw.sipPort}`,
      service: alice.username,
      pauseMs: 9000,
      timeoutS: PEER_TIMEOUT_S,
    });
    peers.push(caller);
    await waitUntilRinging(t, 1);
    const exited = sw.terminate();

    const late = await TestPhone.open('udp', sw.sipPort);
    try {
      await eventually('the node to take the stop request', () => sw.output().includes('SIGTERM: refusing new calls'));
      late.sendRaw(
        late.build({
          method: 'INVITE',
          uri: `sip:${alice.username}@127.0.0.1`,
          to: `sip:${alice.username}@127.0.0.1`,
          from: 'sip:late@example.net',
          headers: [`Contact: <sip:late@127.0.0.1:${late.localPort}>`],
        }).text,
      );
      const refused = await late.waitFor((r) => /^SIP\/2\.0 [2-6]\d\d/.test(r) && !r.startsWith('SIP/2.0 100'), 3000);
      assert.match(refused, /^SIP\/2\.0 503/);
      assert.match(refused, /^Retry-After: 5/im);
    } finally {
      late.close();
    }
    assert.equal(await exited, 0, `exit code after drain:\n${sw.output().slice(-2000)}`);
    await sw.start();

    await done('caller', caller);
    await done('callee', callee);
    const record = await onlyRecord(t);
    assert.equal(record.status, 'answered');
    assert.equal(record.hangupBy, 'caller');
  });
});
