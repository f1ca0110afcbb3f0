/**
 * Issue 13, "Fair share": calls from strangers (no credentials, not from one of the tenant's
 * providers) have budgets of their own, per tenant and per source address, and new INVITEs without
 * credentials are limited per source, so strangers ringing a tenant's accounts cannot use up what
 * its own phones and its providers' calls need. Sources are played from several loopback
 * addresses (127.0.0.x), which is what the switch counts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { autoAnswer, header, invite, isFinalFor, sdp } from '../helpers/sipDialog.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { dialplanSource, newTenant } from './harness.ts';

/** An INVITE left ringing: resolves once it is ringing (or answered finally), with how to CANCEL it. */
async function ring(phone: TestPhone, uri: string): Promise<{ status: number; cancel(): Promise<void> }> {
  const callId = `${randomBytes(6).toString('hex')}@ring`;
  const req = phone.build({
    method: 'INVITE',
    uri,
    to: uri,
    from: 'sip:stranger@example.net',
    callId,
    headers: [`Contact: <sip:s@${phone.localAddress}:${phone.localPort}>`, 'Content-Type: application/sdp'],
    body: sdp('stranger'),
  });
  const from = phone.received.length;
  phone.sendRaw(req.text);
  const first = await phone.waitFor((r) => r.includes(req.branch) && /^SIP\/2\.0 (18\d|[2-6]\d\d)/.test(r), 8000, from);
  const status = Number(first.slice(8, 11));
  return {
    status,
    cancel: async () => {
      if (status >= 200) return;
      const cancel = [
        `CANCEL ${uri} SIP/2.0`,
        `Via: SIP/2.0/UDP ${phone.localAddress}:${phone.localPort};branch=${req.branch};rport`,
        'Max-Forwards: 70',
        `From: <sip:stranger@example.net>;tag=${phone.fromTag}`,
        `To: <${uri}>`,
        `Call-ID: ${callId}`,
        `CSeq: ${req.cseq} CANCEL`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      phone.sendRaw(cancel);
      await phone.waitFor(isFinalFor(req.branch), 5000, from);
    },
  };
}

describe('strangers have budgets of their own (sqlite)', () => {
  let sw: TestSwitch;
  const closers: Array<() => void> = [];
  before(async () => {
    sw = await startTestSwitch('sqlite', {
      env: { CALLS_PER_TENANT: '3', STRANGER_CALLS_PER_SOURCE: '2', SIP_INVITES_PER_MINUTE_PER_SOURCE: '5' },
    });
  });
  after(async () => {
    for (const c of closers) c();
    await sw.close();
  });

  async function phoneAt(address: string): Promise<TestPhone> {
    const p = await TestPhone.open('udp', sw.sipPort, address);
    closers.push(() => p.close());
    return p;
  }

  test("strangers ringing an account use neither the budget of the tenant's provider calls nor more than their share per source", async () => {
    const t = await newTenant(sw);
    const alice = await t.account();
    const alicePhone = await phoneAt('127.0.0.1');
    const ringing = autoAnswer(alicePhone, 'alice', { ring: true });
    closers.push(ringing.stop);
    assert.equal((await alicePhone.register({ user: alice.username, password: alice.password })).final.status, 200);
    const aliceUri = `sip:${alice.username}@127.0.0.1:${sw.sipPort}`;

    const held: Array<{ cancel(): Promise<void> }> = [];
    try {
      // Two strangers' sources, each up to its own cap of two calls at once.
      for (const address of ['127.0.0.2', '127.0.0.3']) {
        const stranger = await phoneAt(address);
        for (let i = 0; i < 2; i++) {
          const r = await ring(stranger, aliceUri);
          assert.equal(r.status, 180, `call ${i + 1} from ${address} rings`);
          held.push(r);
        }
        const third = await ring(stranger, aliceUri);
        assert.equal(third.status, 503, `a third call at once from ${address} is refused`);
      }

      // Four strangers' calls ring (more than CALLS_PER_TENANT): the tenant's provider still gets through.
      const carrier = await phoneAt('127.0.0.1');
      await t.dialplan('from-carrier', dialplanSource(`  await dial('${alice.username}', { timeout: 10 });`));
      const p = await t.api.post('/providers', { name: 'carrier', host: '127.0.0.1', port: carrier.localPort, dialplan: 'from-carrier' });
      assert.equal(p.status, 201);
      const fromCarrier = await ring(carrier, p.body.contactUri);
      assert.equal(fromCarrier.status, 180, "the provider's call rings despite the strangers");
      held.push(fromCarrier);
    } finally {
      for (const h of held) await h.cancel();
    }
  });

  test('new INVITEs without credentials are limited per source address: 503 with Retry-After beyond the rate', async () => {
    const t = await newTenant(sw);
    const bob = await t.account();
    await t.dialplan('busy', dialplanSource(`  await respond(486, 'Busy Here');`));
    assert.equal((await t.api.patch(`/sip-accounts/${bob.id}`, { dialplanIn: 'busy' })).status, 200);
    const uri = `sip:${bob.username}@127.0.0.1:${sw.sipPort}`;

    const flooder = await phoneAt('127.0.0.4');
    for (let i = 0; i < 5; i++) assert.match(await invite(flooder, { uri }), /^SIP\/2\.0 486 /, `INVITE ${i + 1} of the minute`);
    const limited = await invite(flooder, { uri });
    assert.match(limited, /^SIP\/2\.0 503 /);
    assert.ok(Number(header(limited, 'Retry-After')) > 0, 'Retry-After says when to come back');

    const other = await phoneAt('127.0.0.5');
    assert.match(await invite(other, { uri }), /^SIP\/2\.0 486 /, 'another source is not affected');
  });
});
