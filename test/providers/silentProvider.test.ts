/**
 * Issue 20, "Providers": a provider that never answers an INVITE (not even 100 Trying) is given up
 * a few seconds in and the dial's next route is tried, instead of holding the caller for the whole
 * ring time. The silent provider is a UDP socket that swallows everything; the next one answers.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { autoAnswer, invite } from '../helpers/sipDialog.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { dialplanSource, EventLog, newTenant } from '../calls/harness.ts';

describe('a provider that never answers (sqlite)', () => {
  let sw: TestSwitch;
  let silent: dgram.Socket;
  const swallowed: string[] = [];
  before(async () => {
    sw = await startTestSwitch('sqlite');
    silent = dgram.createSocket('udp4');
    silent.on('message', (m) => swallowed.push(m.toString('latin1')));
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r));
  });
  after(async () => {
    silent.close();
    await sw.close();
  });

  test('is given up after a few seconds of silence and the next route answers, long before the ring time', async () => {
    const t = await newTenant(sw);
    const log = new EventLog(sw, t.id);
    const good = await TestPhone.open('udp', sw.sipPort);
    const answering = autoAnswer(good, 'good');
    try {
      assert.equal((await t.api.post('/providers', { name: 'silent', host: '127.0.0.1', port: silent.address().port })).status, 201);
      assert.equal((await t.api.post('/providers', { name: 'good', host: '127.0.0.1', port: good.localPort })).status, 201);
      // The silent route may ring for two minutes: only silence can end it early.
      await t.dialplan('out', dialplanSource(`  const r = await dial('030111@silent[timeout=120] | 030111@good', { timeout: 20 });\n  log('dial ' + r.result);`));
      const front = await t.account({ dialplanIn: 'out' });
      const caller = await TestPhone.open('udp', sw.sipPort);
      try {
        const final = await invite(caller, { uri: `sip:${front.username}@127.0.0.1:${sw.sipPort}` }, 15_000);
        assert.match(final, /^SIP\/2\.0 200 /);
      } finally {
        caller.close();
      }
      assert.ok(
        swallowed.some((m) => m.startsWith('INVITE ')),
        'the silent provider was tried first',
      );
      assert.equal(answering.invites.length, 1, 'the next route answered');
      await log.ended();
      const silentLeg = log.ofType('channel.hungup').find((e) => e.channel.provider === 'silent');
      assert.equal(silentLeg?.cause, 'unavailable');
    } finally {
      answering.stop();
      good.close();
      log.stop();
    }
  });
});
