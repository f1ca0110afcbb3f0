/**
 * GET /getting-started follows the tenant's own data: each step is done once it is, for this
 * tenant only. (The answered test call is walked with real phones in test/web/gettingStarted.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { GettingStartedView } from '../../contract/gettingStarted.ts';
import { createSipAccount, signUp } from '../helpers/api.ts';
import { DIALECTS, skipUnless } from '../helpers/databases.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

const doneSteps = (v: GettingStartedView) => (Object.keys(v) as Array<keyof GettingStartedView>).filter((k) => v[k].done);

for (const dialect of DIALECTS) {
  describe(`getting started [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    let sw: TestSwitch;
    before(async () => {
      sw = await startTestSwitch(dialect);
    });
    after(async () => {
      await sw.close();
    });

    test('each step turns done with what it asks for, and only for the tenant that did it', async () => {
      const api = await signUp(sw.httpUrl);
      const other = await signUp(sw.httpUrl);
      const state = async () => (await api.get<GettingStartedView>('/getting-started')).body;
      assert.deepEqual(doneSteps(await state()), []);

      const phone = await createSipAccount(api);
      assert.deepEqual(doneSteps(await state()), ['phone']);
      assert.equal((await state()).phone.firstPhoneId, phone.id);

      const device = await TestPhone.open('udp', sw.sipPort);
      try {
        assert.equal((await device.register({ user: phone.username, password: phone.password })).final.status, 200);
      } finally {
        device.close();
      }
      assert.deepEqual(doneSteps(await state()), ['phone', 'registered']);

      // A new version of the default stored at sign-up: an edit of the tenant's own.
      assert.equal((await api.request('PUT', '/dialplans/default', { source: 'export default async function (call) { await dial(call.to.user); }\n' })).status, 200);
      assert.equal((await api.post('/providers', { name: 'trunk', host: '192.0.2.10', username: 'u1', password: 'provider-secret-1' })).status, 201);
      const now = await state();
      assert.deepEqual(doneSteps(now), ['phone', 'registered', 'provider', 'dialplan']);
      assert.deepEqual(now.testCall, { done: false, recordId: null });

      const theirs = (await other.get<GettingStartedView>('/getting-started')).body;
      assert.deepEqual(doneSteps(theirs), [], 'another tenant starts from nothing');
      assert.equal(theirs.phone.firstPhoneId, null);
    });
  });
}
