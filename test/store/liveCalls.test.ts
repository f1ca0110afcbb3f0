/**
 * The restart state of a live call is in the database while the call lives, with what a
 * restarted node needs (CANCEL-able INVITEs while ringing, both dialogs once answered), and gone
 * when the call ends. Driven by two hand-written phones so every step can be held and inspected.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { persistedCallSchema } from '../../server/calls/persistedCall.ts';
import { createSipAccount, signUp } from '../helpers/api.ts';
import { DIALECTS, skipUnless } from '../helpers/databases.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, ms = 3000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const dialect of DIALECTS) {
  describe(`live call state [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    let sw: TestSwitch;
    before(async () => {
      sw = await startTestSwitch(dialect);
    });
    after(async () => {
      await sw.close();
    });

    test('ringing: the caller INVITE and the ringing branch; answered: both dialogs; ended: gone', async () => {
      const api = await signUp(sw.httpUrl);
      const alice = await createSipAccount(api);
      const callee = await TestPhone.open('udp', sw.sipPort);
      const caller = await TestPhone.open('udp', sw.sipPort);
      try {
        assert.equal((await callee.register({ user: alice.username, password: alice.password })).final.status, 200);
        const from = callee.received.length;
        const invite = caller.build({
          method: 'INVITE',
          uri: `sip:${alice.username}@127.0.0.1`,
          to: `sip:${alice.username}@127.0.0.1`,
          from: 'sip:stranger@example.net',
          headers: [`Contact: <sip:stranger@127.0.0.1:${caller.localPort}>`, 'Content-Type: application/sdp'],
          body: SDP,
        });
        caller.sendRaw(invite.text);
        const inbound = await callee.waitFor((r) => r.startsWith('INVITE '), 3000, from);
        callee.reply(inbound, 180, 'Ringing');
        await caller.waitFor((r) => r.startsWith('SIP/2.0 180'));

        const ringing = await eventually('the ringing call persisted', async () => {
          const rows = await sw.running.store.liveCalls.forNode('test-node');
          // Written every 100 ms: wait for the state written after the 180, not an earlier one.
          const row = rows.map((r) => persistedCallSchema.parse(r.state)).find((s) => s.channels.some((c) => c.pendingInvite && c.snapshot.state === 'ringing'));
          return row;
        });
        assert.equal(ringing.caller.finalSent, false);
        assert.equal(ringing.caller.head.callId, caller.callId);
        assert.ok(ringing.caller.inviteKey.includes(invite.branch), 'the caller INVITE can be matched to a CANCEL');
        const branch = ringing.channels.find((c) => c.pendingInvite);
        assert.ok(branch?.pendingInvite, 'a branch waits for its answer');
        assert.equal(branch.snapshot.direction, 'outbound');
        assert.equal(branch.snapshot.state, 'ringing');
        assert.match(inbound, new RegExp(branch.pendingInvite.branch), 'the branch id of the INVITE sent to the callee');
        assert.equal(branch.dialog.peer.port, callee.localPort);

        callee.reply(inbound, 200, 'OK', ['Content-Type: application/sdp'], SDP);
        await caller.waitFor((r) => r.startsWith('SIP/2.0 200'));
        const up = await eventually('the answered call persisted', async () => {
          const row = await sw.running.store.liveCalls.get(ringing.callId);
          const s = row && persistedCallSchema.parse(row.state);
          return s?.bridges.length === 1 ? s : undefined;
        });
        assert.equal(up.caller.finalSent, true);
        assert.deepEqual(
          up.channels.map((c) => c.snapshot.state),
          ['up', 'up'],
        );
        assert.ok(
          up.channels.every((c) => c.dialog.remoteTag),
          'both dialogs confirmed',
        );
        assert.equal(
          up.channels.find((c) => c.pendingInvite),
          undefined,
        );
        assert.deepEqual(new Set(up.bridges[0]!.channelIds), new Set(up.channels.map((c) => c.snapshot.id)));

        const bye = callee.received.length;
        const byeReq = caller.build({ method: 'BYE', uri: `sip:${alice.username}@127.0.0.1`, to: `sip:${alice.username}@127.0.0.1`, from: 'sip:stranger@example.net', cseq: 2 });
        const toTag = /To: [^\r]*;tag=([^\s;\r]+)/.exec(await caller.waitFor((r) => r.startsWith('SIP/2.0 200')))![1];
        caller.sendRaw(byeReq.text.replace(/^(To: [^\r]*)/m, `$1;tag=${toTag}`));
        const byeAtCallee = await callee.waitFor((r) => r.startsWith('BYE '), 3000, bye);
        callee.reply(byeAtCallee, 200, 'OK');
        await eventually('the ended call removed', async () => ((await sw.running.store.liveCalls.get(ringing.callId)) ? undefined : true));
      } finally {
        caller.close();
        callee.close();
      }
    });
  });
}
