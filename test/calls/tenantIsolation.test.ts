/** A dialplan reaches its own tenant's phones only: dialling another tenant's account rings nothing. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSipAccount, signUp } from '../helpers/api.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';

describe('calls between tenants', () => {
  let sw: TestSwitch;
  before(async () => {
    sw = await startTestSwitch('sqlite');
  });
  after(async () => {
    await sw.close();
  });

  test("a dialplan dialling another tenant's account name rings none of that tenant's phones", async () => {
    const victimTenant = await signUp(sw.httpUrl);
    const victim = await createSipAccount(victimTenant);
    const attacker = await signUp(sw.httpUrl);
    const front = await createSipAccount(attacker);
    await attacker.request('PUT', '/dialplans/steal', {
      source: `export default async function () {\n  const r = await dial('${victim.username}', { timeout: 3 });\n  log('dial: ' + r.result);\n}\n`,
    });
    assert.equal((await attacker.patch(`/sip-accounts/${front.id}`, { dialplanIn: 'steal' })).status, 200);

    const victimPhone = await TestPhone.open('udp', sw.sipPort);
    const caller = await TestPhone.open('udp', sw.sipPort);
    try {
      assert.equal((await victimPhone.register({ user: victim.username, password: victim.password })).final.status, 200);
      const mark = victimPhone.received.length;
      const invite = caller.build({
        method: 'INVITE',
        uri: `sip:${front.username}@127.0.0.1`,
        to: `sip:${front.username}@127.0.0.1`,
        from: 'sip:stranger@example.net',
        headers: [`Contact: <sip:s@127.0.0.1:${caller.localPort}>`, 'Content-Type: application/sdp'],
        body: SDP,
      });
      caller.sendRaw(invite.text);
      const final = await caller.waitFor((r) => r.includes(invite.branch) && /^SIP\/2\.0 [3-6]\d\d/.test(r), 8000);
      // Not Found, as for a name nobody has: the answer tells nothing about the other tenant.
      assert.match(final, /^SIP\/2\.0 404 /);
      assert.ok(await victimPhone.quiet((r) => r.startsWith('INVITE '), 300), "the other tenant's phone never rang");
      assert.equal(victimPhone.received.slice(mark).filter((r) => r.startsWith('INVITE ')).length, 0);
    } finally {
      caller.close();
      victimPhone.close();
    }
  });
});

describe('loops', () => {
  let sw: TestSwitch;
  before(async () => {
    // Limits well above the hop count, so only Max-Forwards can be what stops the loop.
    sw = await startTestSwitch('sqlite', { env: { DIALPLAN_TENANT_CONCURRENCY: '40', CALLS_PER_TENANT: '40' } });
  });
  after(async () => {
    await sw.close();
  });

  test('a dialplan that dials the switch itself ends at Max-Forwards 0 instead of looping', async () => {
    const api = await signUp(sw.httpUrl);
    const loop = await createSipAccount(api);
    await api.request('PUT', '/dialplans/loop', {
      source: `export default async function () {\n  await dial('sip:${loop.username}@127.0.0.1:${sw.sipPort}', { timeout: 20 });\n}\n`,
    });
    assert.equal((await api.patch(`/sip-accounts/${loop.id}`, { dialplanIn: 'loop' })).status, 200);
    const caller = await TestPhone.open('udp', sw.sipPort);
    try {
      const invite = caller
        .build({
          method: 'INVITE',
          uri: `sip:${loop.username}@127.0.0.1`,
          to: `sip:${loop.username}@127.0.0.1`,
          from: 'sip:stranger@example.net',
          headers: [`Contact: <sip:s@127.0.0.1:${caller.localPort}>`, 'Content-Type: application/sdp'],
          body: SDP,
        })
        .text.replace('Max-Forwards: 70', 'Max-Forwards: 5');
      caller.sendRaw(invite);
      const final = await caller.waitFor((r) => /^SIP\/2\.0 [3-6]\d\d/.test(r), 15000);
      // The innermost hop is refused with 483; each hop above it fails its dial and answers the one before.
      assert.match(final, /^SIP\/2\.0 (483|480|4\d\d) /);
      const metrics = await (await fetch(`${sw.httpUrl}/metrics`)).text();
      const invites = Number(/sip_messages_received_total\{transport="udp",kind="INVITE"\} (\d+)/.exec(metrics)?.[1]);
      assert.ok(invites >= 5 && invites <= 12, `INVITEs received: ${invites} (the caller's, then one per hop until Max-Forwards ran out)`);
    } finally {
      caller.close();
    }
  });
});
