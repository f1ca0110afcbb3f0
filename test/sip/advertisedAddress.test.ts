/**
 * A node behind NAT names its public address in what it sends: the Via and Contact of the
 * INVITEs it places carry SIP_ADVERTISED_ADDRESS, and phones are told to use it as their proxy.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSipAccount, signUp } from '../helpers/api.ts';
import { header } from '../helpers/sipDialog.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

describe('advertised address', () => {
  let sw: TestSwitch;
  before(async () => {
    // Media goes to an address of its own: the relay would resolve the SIP name, which does not exist.
    sw = await startTestSwitch('sqlite', { env: { SIP_ADVERTISED_ADDRESS: 'sip.example.test:5080', MEDIA_ADVERTISED_ADDRESS: '127.0.0.1' } });
  });
  after(async () => {
    await sw.close();
  });

  test("a call's outbound INVITE names the advertised address in Via and Contact; the settings tell phones to use it", async () => {
    const api = await signUp(sw.httpUrl);
    const settings = await api.get('/settings');
    assert.deepEqual(settings.body.sip.proxy, { host: 'sip.example.test', port: 5080 });

    const bob = await createSipAccount(api);
    const phone = await TestPhone.open('udp', sw.sipPort);
    const caller = await TestPhone.open('udp', sw.sipPort);
    try {
      assert.equal((await phone.register({ user: bob.username, password: bob.password })).final.status, 200);
      caller.sendRaw(
        caller.build({ method: 'INVITE', uri: `sip:${bob.username}@127.0.0.1:${sw.sipPort}`, to: `sip:${bob.username}@127.0.0.1`, from: 'sip:stranger@127.0.0.1' }).text,
      );
      const invite = await phone.waitFor((r) => r.startsWith('INVITE '));
      assert.match(header(invite, 'Via') ?? '', /^SIP\/2\.0\/UDP sip\.example\.test:5080;branch=z9hG4bK/);
      assert.equal(header(invite, 'Contact'), '<sip:sip.example.test:5080>');
      phone.reply(invite, 486, 'Busy Here');
      const final = await caller.waitFor((r) => /^SIP\/2\.0 [2-6]\d\d/.test(r));
      assert.match(final, /^SIP\/2\.0 486 /);
    } finally {
      phone.close();
      caller.close();
    }
  });
});
