/**
 * The calls-per-minute cap per tenant (toll-fraud guard) on a running switch: calls a tenant's
 * phones place beyond its minute's worth get 503 with a Retry-After that says when the next one
 * may start; calls the tenant receives are not counted, and another tenant is not affected.
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
    sw = await startTestSwitch('sqlite', { env: { CALLS_PER_MINUTE_PER_TENANT: '3' } });
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
});
