/** Per-leg dial options that reach the wire: extra X- headers and a maximum call duration. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSipAccount, signUp } from '../helpers/api.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';

describe('dial leg options on the wire', () => {
  let sw: TestSwitch;
  before(async () => {
    sw = await startTestSwitch('sqlite');
  });
  after(async () => {
    await sw.close();
  });

  test('X- headers go out with the INVITE; maxDuration ends the answered call with BYE to both sides', async () => {
    const api = await signUp(sw.httpUrl);
    const alice = await createSipAccount(api);
    await api.request('PUT', '/dialplans/limited', {
      source: `export default async function (call) {\n  await dial([{ account: '${alice.username}', headers: { 'X-Team': 'support', 'X-Ticket': '42' } }], { maxDuration: 1 });\n}\n`,
    });
    assert.equal((await api.patch(`/sip-accounts/${alice.id}`, { dialplanIn: 'limited' })).status, 200);
    const callee = await TestPhone.open('udp', sw.sipPort);
    const caller = await TestPhone.open('udp', sw.sipPort);
    try {
      assert.equal((await callee.register({ user: alice.username, password: alice.password })).final.status, 200);
      const mark = callee.received.length;
      caller.sendRaw(
        caller.build({
          method: 'INVITE',
          uri: `sip:${alice.username}@127.0.0.1`,
          to: `sip:${alice.username}@127.0.0.1`,
          from: 'sip:stranger@example.net',
          headers: [`Contact: <sip:s@127.0.0.1:${caller.localPort}>`, 'Content-Type: application/sdp'],
          body: SDP,
        }).text,
      );
      const invite = await callee.waitFor((r) => r.startsWith('INVITE '), 5000, mark);
      assert.match(invite, /^X-Team: support$/im);
      assert.match(invite, /^X-Ticket: 42$/im);
      callee.reply(invite, 200, 'OK', ['Content-Type: application/sdp'], SDP);
      const answeredAt = Date.now();
      await caller.waitFor((r) => r.startsWith('SIP/2.0 200'));
      const byeToCallee = await callee.waitFor((r) => r.startsWith('BYE '), 4000, mark);
      const byeToCaller = await caller.waitFor((r) => r.startsWith('BYE '), 4000);
      const after = Date.now() - answeredAt;
      assert.ok(after >= 900 && after < 3000, `ended after ${after} ms`);
      callee.reply(byeToCallee, 200, 'OK');
      caller.reply(byeToCaller, 200, 'OK');
    } finally {
      caller.close();
      callee.close();
    }
  });

  test('headers other than X- are refused before anything is dialled', async () => {
    const api = await signUp(sw.httpUrl);
    const r = await api.post('/dialplans/x/simulate', {
      source: `export default async function () {\n  await dial([{ account: 'bob', headers: { 'Via': 'SIP/2.0/UDP evil' } }]);\n}\n`,
    });
    assert.equal(r.body.outcome, 'error');
    assert.match(r.body.error.message, /invalid dial target/);
  });
});
