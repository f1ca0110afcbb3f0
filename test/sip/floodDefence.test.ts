/**
 * The flood limit on a running switch: new requests without credentials from one source beyond
 * its rate go unanswered (and are counted), while that source's requests with credentials that
 * answer a nonce the switch issued to it are still served, and its allowance comes back at the rate.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { challengeParams, digestAuthorization, TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { elapse, silence } from '../helpers/time.ts';

describe('SIP flood limit per source', () => {
  let sw: TestSwitch;
  before(async () => {
    // 2 per second: 20 at once.
    sw = await startTestSwitch('sqlite', { env: { SIP_UNAUTHENTICATED_PER_SECOND: '2' } });
  });
  after(async () => {
    await sw.close();
  });

  const droppedCount = async () => {
    const text = await (await fetch(`${sw.httpUrl}/metrics`)).text();
    return Number(/sip_messages_dropped_total\{reason="rate-limited"\} (\d+)/.exec(text)?.[1] ?? 0);
  };

  test('a burst beyond ten seconds of the rate goes unanswered; proven credentials still get through, made-up ones do not; the allowance refills', async () => {
    const p = await TestPhone.open('udp', sw.sipPort);
    try {
      // A nonce the switch issues to this address, taken before the burst.
      const to = 'sip:nobody@127.0.0.1';
      const contact = 'Contact: <sip:nobody@127.0.0.1:5999>';
      const challenge = challengeParams((await p.request({ method: 'REGISTER', to, headers: [contact] })).header('www-authenticate')!);
      const probes = Array.from({ length: 29 }, () => p.build({ method: 'OPTIONS' }));
      // Right behind the burst, with the source over its rate: credentials answering our nonce,
      // which are answered (the digest check refuses them: the brute-force guard counts those),
      // and credentials anyone can make up, which are no way around the limit.
      const auth = digestAuthorization({ challenge, username: 'nobody', password: 'wrong-wrong-1', method: 'REGISTER', uri: `sip:127.0.0.1:${sw.sipPort}` });
      const proven = p.build({ method: 'REGISTER', to, headers: [contact, `Authorization: ${auth}`] });
      const forged = p.build({
        method: 'REGISTER',
        to,
        headers: [contact, 'Authorization: Digest username="nobody", realm="127.0.0.1", nonce="x", uri="sip:127.0.0.1", response="00"'],
      });
      for (const m of [...probes, forged, proven]) p.sendRaw(m.text);
      assert.match(await p.waitFor((r) => r.includes(proven.branch)), /^SIP\/2\.0 403 /);
      await silence(1000);
      const answered = probes.filter((probe) => p.received.some((r) => r.includes(probe.branch)));
      assert.equal(answered.length, 19, 'the first 19 (20 with the REGISTER) are answered');
      assert.deepEqual(answered, probes.slice(0, 19), 'in the order they were sent');
      assert.ok(!p.received.some((r) => r.includes(forged.branch)), 'made-up credentials went unanswered');
      assert.equal(await droppedCount(), 11);

      // Two per second come back.
      await elapse(600);
      const again = await p.request({ method: 'OPTIONS' });
      assert.equal(again.status, 200);
    } finally {
      p.close();
    }
  });
});
