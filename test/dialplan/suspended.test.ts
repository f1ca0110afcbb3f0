/**
 * What a suspended tenant and its callers see, on a running switch: once a tenant's dialplan has
 * brought down a dialplan worker, its calls are refused with a 503 whose reason says the dialplans
 * are suspended (not "too many concurrent dialplans"), and the portal's dialplan API says until
 * when and why, in the list and where a dialplan is edited.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createSipAccount, signUp } from '../helpers/api.ts';
import { challengeParams, digestAuthorization, TestPhone, type SipReply } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

const DIALPLAN = `export default async function (call) {
  if (call.to.user === 'boom') log(new Array(35e6).fill(1.5).length);
  await respond(404, 'Nobody Here');
}
`;

describe('a suspended tenant', () => {
  let sw: TestSwitch;
  before(async () => {
    sw = await startTestSwitch('sqlite');
  });
  after(async () => {
    await sw.close();
  });

  /** A call the tenant's phone places (authenticated), so the tenant's default dialplan decides it. */
  async function call(phone: TestPhone, to: string, as: { username: string; password: string }): Promise<SipReply> {
    const request = {
      method: 'INVITE',
      uri: `sip:${to}@127.0.0.1:${sw.sipPort}`,
      to: `sip:${to}@127.0.0.1`,
      from: `sip:${as.username}@127.0.0.1`,
      callId: `${randomBytes(6).toString('hex')}@suspended`,
    };
    const challenge = await phone.request(request);
    assert.equal(challenge.status, 407);
    const authorization = digestAuthorization({
      challenge: challengeParams(challenge.header('proxy-authenticate')!),
      username: as.username,
      password: as.password,
      method: 'INVITE',
      uri: request.uri,
    });
    return phone.request({ ...request, headers: [`Proxy-Authorization: ${authorization}`] }, 15_000);
  }

  test("gets 503 'Dialplans Suspended…' after its dialplan brought down a worker, and the portal says why", async () => {
    const api = await signUp(sw.httpUrl);
    const alice = await createSipAccount(api);
    assert.equal((await api.request('PUT', '/dialplans/default', { source: DIALPLAN })).status, 200, 'a new version of the default stored at sign-up');
    const phone = await TestPhone.open('udp', sw.sipPort);
    try {
      assert.equal((await call(phone, 'nobody', alice)).status, 404, 'the dialplan runs');
      assert.equal((await api.get('/dialplans')).body.quarantine, null);

      const crashed = await call(phone, 'boom', alice);
      assert.deepEqual([crashed.status, crashed.reason], [500, 'Dialplan Failed']);

      const refused = await call(phone, 'nobody', alice);
      assert.deepEqual([refused.status, refused.reason], [503, 'Dialplans Suspended After Crashing The Engine']);

      const list = (await api.get('/dialplans')).body;
      assert.match(list.quarantine?.reason ?? '', /dialplan worker running it had to be ended/);
      assert.ok(Date.parse(list.quarantine.until) > Date.now());
      assert.deepEqual((await api.get('/dialplans/default')).body.quarantine, list.quarantine, 'shown where the dialplan is edited too');
    } finally {
      phone.close();
    }
  });
});
