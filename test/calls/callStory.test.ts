/**
 * A call's story: every SIP message of both legs is kept with the record (on SQLite and MySQL),
 * told in time order with the legs' changes and the dialplan's log, downloadable as text and as a
 * pcap that tshark decodes; the tenant's other calls and other tenants see nothing of it. A call in
 * progress shows its messages so far and can be ended from the API.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CallStoryView, StoryEntry } from '../../contract/callTrace.ts';
import { DIALECTS, skipUnless } from '../helpers/databases.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { skipWithout, waitFor } from '../interop/tools.ts';
import { assertSippOk, authRow, dialplanSource, EventLog, flowOf, newTenant, recordOf, registeredUas, scenario, startSipp, type SippPeer } from './harness.ts';

const noSipp = skipWithout('sipp', 'sip-tester');
const hasTshark = (() => {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

const sipLines = (story: CallStoryView) =>
  story.entries.filter((e): e is Extract<StoryEntry, { kind: 'sip' }> => e.kind === 'sip').map((e) => `${e.message.direction} ${e.message.firstLine.replace(/ sip:\S+/, '')}`);

/** The records of a libpcap file: each packet's IP protocol and its UDP payload. */
function pcapRecords(file: Buffer): Array<{ protocol: number; payload: string }> {
  assert.equal(file.readUInt32LE(0), 0xa1b2c3d4, 'pcap magic');
  assert.equal(file.readUInt32LE(20), 101, 'raw IP link type');
  const out = [];
  for (let at = 24; at < file.length;) {
    const len = file.readUInt32LE(at + 8);
    const p = file.subarray(at + 16, at + 16 + len);
    out.push({ protocol: p.readUInt8(9), payload: p.subarray(28).toString('utf8') });
    at += 16 + len;
  }
  return out;
}

for (const dialect of DIALECTS) {
  describe(`a call's story [${dialect}]`, { skip: skipUnless(dialect) || noSipp, timeout: 90_000 }, () => {
    let sw: TestSwitch;
    const dir = mkdtempSync(path.join(tmpdir(), 'sipswitch-story-'));
    const peers: SippPeer[] = [];
    const logs: EventLog[] = [];
    before(async () => {
      sw = await startTestSwitch(dialect);
    });
    after(async () => {
      for (const p of peers) p.kill();
      for (const l of logs) l.stop();
      await sw?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    test('both legs’ messages, the legs and the log in one order; text and pcap downloads; other tenants see nothing', async () => {
      const t = await newTenant(sw);
      const log = new EventLog(sw, t.id);
      logs.push(log);
      const alice = await t.account();
      const bob = await t.account();
      await t.dialplan('default', dialplanSource(`  log('ringing ' + call.to.user);\n  await dial(call.to.user, { timeout: 10 });`));
      const callee = await registeredUas(sw, dir, bob, 'uas_answer.xml', { party: 'bob' });
      peers.push(callee);
      const caller = await startSipp({
        dir,
        name: 'caller',
        scenario: scenario('uac_auth_call.xml'),
        remote: `127.0.0.1:${sw.sipPort}`,
        service: bob.username,
        inf: [authRow(alice)],
        keys: { party: 'alice' },
      });
      peers.push(caller);
      const [c, b] = await Promise.all([caller.done, callee.done]);
      assertSippOk({ caller: c, callee: b });
      await log.ended();
      const record = await recordOf(sw, t, log.events[0]!.callId);

      const story = await waitFor('the trace saved', 10_000, async () => {
        const r = await t.api.get<CallStoryView>(`/cdrs/${record.id}/story`);
        assert.equal(r.status, 200);
        return r.body.entries.some((e) => e.kind === 'sip') ? r.body : undefined;
      });
      // What each sipp peer saw, seen from the switch's side, in order: the caller's leg…
      const byLeg = new Map<string, string[]>();
      for (const e of story.entries)
        if (e.kind === 'sip')
          byLeg.set(e.message.sipCallId, [
            ...(byLeg.get(e.message.sipCallId) ?? []),
            `${e.message.direction === 'in' ? '<' : '>'}${e.message.firstLine.split(' ')[0] === 'SIP/2.0' ? e.message.firstLine.split(' ')[1] : e.message.firstLine.split(' ')[0]}`,
          ]);
      assert.equal(byLeg.size, 2, 'two legs');
      const [aFlow, bFlow] = [...byLeg.values()];
      // The switch's view mirrors each peer's (sipp's > is the switch's <).
      const mirror = (flow: string[]) => flow.map((f) => (f[0] === '>' ? '<' : '>') + f.slice(1));
      assert.deepEqual(aFlow, mirror(flowOf(c.messages)));
      assert.deepEqual(bFlow, mirror(flowOf(b.messages)));
      assert.equal(sipLines(story)[0], 'in INVITE SIP/2.0');
      // …interleaved with the legs and the log in time order.
      const ats = story.entries.map((e) => e.at);
      assert.deepEqual(
        ats,
        [...ats].sort((x, y) => x - y),
      );
      const legLines = story.entries.filter((e) => e.kind === 'leg').map((e) => `${e.leg} ${e.what.split(/[ :]/)[0]}`);
      for (const l of ['A inbound', 'B outbound', 'A answered', 'B answered', 'A ended', 'B ended']) assert.ok(legLines.includes(l), `${l} in ${legLines.join(', ')}`);
      const logAt = story.entries.findIndex((e) => e.kind === 'log' && e.message === `ringing ${bob.username}`);
      const outboundInvite = story.entries.findIndex((e) => e.kind === 'sip' && e.message.direction === 'out' && e.message.firstLine.startsWith('INVITE'));
      assert.ok(logAt >= 0 && logAt < outboundInvite, 'the dialplan logged before it dialled');
      assert.equal(story.dropped, 0);

      const text = await t.api.raw(`/cdrs/${record.id}/story?format=text`);
      assert.equal(text.status, 200);
      assert.match(text.headers.get('content-disposition') ?? '', /^attachment; filename="?call-[0-9a-f-]+\.txt"?$/);
      const body = await text.text();
      assert.match(body, /leg A inbound leg/);
      assert.match(body, /dialplan info: ringing /);
      assert.equal(body.match(/^\s{4}CSeq: /gm)?.length, story.entries.filter((e) => e.kind === 'sip').length, 'every message in full');

      const pcapRes = await t.api.raw(`/cdrs/${record.id}/story?format=pcap`);
      assert.equal(pcapRes.status, 200);
      const pcap = Buffer.from(await pcapRes.arrayBuffer());
      const packets = pcapRecords(pcap);
      assert.equal(packets.length, story.entries.filter((e) => e.kind === 'sip').length);
      assert.ok(packets.every((p) => p.protocol === 17));
      assert.deepEqual(
        packets.map((p) => p.payload.slice(0, p.payload.indexOf('\r\n'))),
        story.entries.flatMap((e) => (e.kind === 'sip' ? [e.message.firstLine] : [])),
      );
      if (hasTshark) {
        const file = path.join(dir, 'story.pcap');
        writeFileSync(file, pcap);
        const decoded = execFileSync('tshark', ['-r', file, '-d', `udp.port==${sw.sipPort},sip`, '-T', 'fields', '-e', 'sip.CSeq.method'], { encoding: 'utf8' })
          .trim()
          .split('\n');
        assert.equal(decoded.length, packets.length, 'tshark decodes every message as SIP');
        assert.ok(
          decoded.every((m) => /^(INVITE|ACK|BYE)$/.test(m)),
          decoded.join(','),
        );
      }

      const other = await newTenant(sw);
      assert.equal((await other.api.get(`/cdrs/${record.id}/story`)).status, 404);

      // Kept as long as the record: the retention purge takes both.
      const scope = sw.running.store.tenant(t.id);
      assert.ok(await scope.callTraces.get(record.callId));
      await scope.cdrs.purgeOlderThan(Date.now() + 1);
      assert.equal(await scope.callTraces.get(record.callId), undefined);
    });

    test('a call in progress: its messages so far, and ended from the API (both sides get a BYE)', async () => {
      const t = await newTenant(sw);
      const log = new EventLog(sw, t.id);
      logs.push(log);
      const bob = await t.account();
      const callee = await registeredUas(sw, dir, bob, 'uas_answer.xml', { party: 'bob' });
      peers.push(callee);
      const caller = await startSipp({
        dir,
        name: 'waiting',
        scenario: scenario('uac_call_wait_bye.xml'),
        remote: `127.0.0.1:${sw.sipPort}`,
        service: bob.username,
        keys: { party: 'stranger', caller: 'stranger' },
      });
      peers.push(caller);
      const up = await waitFor('the call answered', 10_000, async () => log.events.find((e) => e.type === 'bridge.created'));
      const live = await t.api.get<CallStoryView>(`/calls/${up.callId}/story`);
      assert.equal(live.status, 200);
      assert.deepEqual(sipLines(live.body).slice(0, 1), ['in INVITE SIP/2.0']);
      assert.ok(sipLines(live.body).includes('out INVITE SIP/2.0'), 'the callee leg too');

      const other = await newTenant(sw);
      assert.equal((await other.api.post(`/calls/${up.callId}/hangup`)).status, 404, 'another tenant cannot end it');
      assert.equal((await other.api.get(`/calls/${up.callId}/story`)).status, 404);
      const ended = await t.api.post(`/calls/${up.callId}/hangup`);
      assert.equal(ended.status, 202);
      const [c, b] = await Promise.all([caller.done, callee.done]);
      assertSippOk({ caller: c, callee: b });
      assert.deepEqual(flowOf(c.messages).slice(-2), ['<BYE', '>200']);
      assert.deepEqual(flowOf(b.messages).slice(-2), ['<BYE', '>200']);
      await log.ended();
      assert.equal((await t.api.post(`/calls/${up.callId}/hangup`)).status, 404, 'over');
      const record = await recordOf(sw, t, up.callId);
      assert.equal(record.status, 'answered');
      assert.deepEqual(
        record.legs.map((l) => l.hangupBy),
        ['switch', 'switch'],
      );
    });
  });
}
