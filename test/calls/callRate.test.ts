/**
 * The per-tenant call limits (toll-fraud guard) on a running switch: calls a tenant's phones place
 * beyond its minute's worth get 503 with a Retry-After that says when the next one may start, and
 * calls it receives are not counted; calls at once are counted apart for placed calls and calls
 * from strangers, so strangers ringing an account cannot keep the tenant's phones from calling out.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createSipAccount, signUp } from '../helpers/api.ts';
import { challengeParams, digestAuthorization, TestPhone, type SipReply } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

describe('calls per minute per tenant', () => {
  let sw: TestSwitch;
  before(async () => {
    sw = await startTestSwitch('sqlite', { env: { CALLS_PER_MINUTE_PER_TENANT: '3', CALLS_PER_TENANT: '2', STRANGER_CALLS_PER_TENANT: '2' } });
  });
  after(async () => {
    await sw.close();
  });

  const invite = (user: string, from: string) => ({
    method: 'INVITE',
    uri: `sip:${user}@127.0.0.1:${sw.sipPort}`,
    to: `sip:${user}@127.0.0.1`,
    from: `sip:${from}@127.0.0.1`,
    callId: `${randomBytes(6).toString('hex')}@rate`,
  });

  /** A call to `user` (nobody is registered anywhere, so a handled call gets 480 at once). */
  async function call(phone: TestPhone, user: string, as?: { username: string; password: string }): Promise<SipReply> {
    if (!as) return phone.request(invite(user, 'stranger'));
    const request = invite(user, as.username);
    const challenge = await phone.request(request);
    assert.equal(challenge.status, 407);
    const authorization = digestAuthorization({
      challenge: challengeParams(challenge.header('proxy-authenticate')!),
      username: as.username,
      password: as.password,
      method: 'INVITE',
      uri: request.uri,
    });
    return phone.request({ ...request, headers: [`Proxy-Authorization: ${authorization}`] });
  }

  test("calls a tenant's phones place beyond its minute's worth get 503 with Retry-After; received calls and another tenant's are not counted", async () => {
    const api = await signUp(sw.httpUrl);
    const alice = await createSipAccount(api);
    const bob = await createSipAccount(api);
    const carol = await createSipAccount(await signUp(sw.httpUrl));
    const phone = await TestPhone.open('udp', sw.sipPort);
    try {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await call(phone, bob.username, alice)).status);
      assert.deepEqual(statuses, [480, 480, 480], 'the first three calls are handled');
      const refused = await call(phone, bob.username, alice);
      assert.equal(refused.status, 503);
      assert.equal(refused.reason, 'Call Rate Exceeded');
      const retryAfter = Number(refused.header('retry-after'));
      // 3 per minute: one more every 20 s.
      assert.ok(retryAfter > 15 && retryAfter <= 20, `Retry-After ${retryAfter}`);

      const received = [];
      for (let i = 0; i < 4; i++) received.push((await call(phone, bob.username)).status);
      assert.deepEqual(received, [480, 480, 480, 480], 'calls the tenant receives are not counted');
      assert.equal((await call(phone, carol.username, carol)).status, 480, "another tenant's phone still calls");
      const metrics = await (await fetch(`${sw.httpUrl}/metrics`)).text();
      assert.match(metrics, /calls_refused_total\{limit="calls-per-minute"\} 1\n/);
    } finally {
      phone.close();
    }
  });

  test("calls at once: received calls fill their own allowance, and the tenant's phones can still call out", async () => {
    const api = await signUp(sw.httpUrl);
    const alice = await createSipAccount(api);
    const bob = await createSipAccount(api);
    const bobPhone = await TestPhone.open('udp', sw.sipPort);
    const stranger = await TestPhone.open('udp', sw.sipPort);
    const alicePhone = await TestPhone.open('udp', sw.sipPort);
    try {
      assert.equal((await bobPhone.register({ user: bob.username, password: bob.password })).final.status, 200);
      // Two strangers' calls ring Bob's phone (it says 180 and never answers): the tenant's two
      // received calls at once.
      const ringing: Array<ReturnType<TestPhone['build']>> = [];
      for (let i = 0; i < 2; i++) {
        const req = stranger.build(invite(bob.username, 'stranger'));
        const from = bobPhone.received.length;
        stranger.sendRaw(req.text);
        bobPhone.reply(await bobPhone.waitFor((raw) => raw.startsWith('INVITE '), 3000, from), 180, 'Ringing');
        await stranger.waitFor((raw) => raw.includes(req.branch) && raw.startsWith('SIP/2.0 180'));
        ringing.push(req);
      }
      const third = await stranger.request(invite(bob.username, 'stranger'));
      assert.deepEqual([third.status, third.reason], [503, 'Too Many Calls'], 'a third received call is refused');
      // Alice's phone calls a colleague nobody has registered: handled (404), not refused.
      assert.equal((await call(alicePhone, 'nobody-registered', alice)).status, 404);

      for (const req of ringing) {
        const cancel = stranger.build({ ...invite(bob.username, 'stranger'), method: 'CANCEL', callId: /Call-ID: (.*)/.exec(req.text)![1], cseq: req.cseq, branch: req.branch });
        stranger.sendRaw(cancel.text);
      }
      await stranger.waitFor((raw) => /^SIP\/2\.0 487 /.test(raw) && raw.includes(ringing[1]!.branch));
    } finally {
      bobPhone.close();
      stranger.close();
      alicePhone.close();
    }
  });
});
