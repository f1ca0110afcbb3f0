/**
 * The calls-per-minute cap per tenant (toll-fraud guard) on a running switch: a tenant's calls
 * beyond its minute's worth get 503 with a Retry-After that says when the next one may start,
 * and another tenant's calls are not affected.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createSipAccount, signUp } from '../helpers/api.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

describe('calls per minute per tenant', () => {
  let sw: TestSwitch;
  before(async () => {
    sw = await startTestSwitch('sqlite', { env: { CALLS_PER_MINUTE_PER_TENANT: '3' } });
  });
  after(async () => {
    await sw.close();
  });

  /** A stranger calls `user` (who has no phone registered): each call is refused at once. */
  async function call(phone: TestPhone, user: string) {
    const to = `sip:${user}@127.0.0.1`;
    return phone.request({ method: 'INVITE', uri: `sip:${user}@127.0.0.1:${sw.sipPort}`, to, from: 'sip:stranger@127.0.0.1', callId: `${randomBytes(6).toString('hex')}@rate` });
  }

  test("a tenant's calls beyond its minute's worth get 503 with Retry-After; another tenant's do not", async () => {
    const bob = await createSipAccount(await signUp(sw.httpUrl));
    const carol = await createSipAccount(await signUp(sw.httpUrl));
    const phone = await TestPhone.open('udp', sw.sipPort);
    try {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await call(phone, bob.username)).status);
      assert.deepEqual(statuses, [480, 480, 480], 'the first three calls are handled (nobody is registered)');
      const refused = await call(phone, bob.username);
      assert.equal(refused.status, 503);
      assert.equal(refused.reason, 'Call Rate Exceeded');
      const retryAfter = Number(refused.header('retry-after'));
      // 3 per minute: one more every 20 s.
      assert.ok(retryAfter > 15 && retryAfter <= 20, `Retry-After ${retryAfter}`);
      assert.equal((await call(phone, carol.username)).status, 480, "another tenant's call is handled");
      const metrics = await (await fetch(`${sw.httpUrl}/metrics`)).text();
      assert.match(metrics, /calls_refused_total\{limit="calls-per-minute"\} 1\n/);
    } finally {
      phone.close();
    }
  });
});
