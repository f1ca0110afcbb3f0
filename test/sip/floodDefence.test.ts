/**
 * The flood limit on a running switch: new requests without credentials from one source beyond
 * its rate go unanswered (and are counted), while that source's requests with credentials are
 * still served, and its allowance comes back at the rate.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

  test('a burst beyond ten seconds of the rate goes unanswered; credentials still get through; the allowance refills', async () => {
    const p = await TestPhone.open('udp', sw.sipPort);
    try {
      const probes = Array.from({ length: 30 }, () => p.build({ method: 'OPTIONS' }));
      for (const probe of probes) p.sendRaw(probe.text);
      await sleep(1000);
      const answered = probes.filter((probe) => p.received.some((r) => r.includes(probe.branch)));
      assert.equal(answered.length, 20, 'the first 20 are answered');
      assert.deepEqual(answered, probes.slice(0, 20), 'in the order they were sent');
      assert.equal(await droppedCount(), 10);

      // Over its rate, the source's request with credentials is still answered (the digest check
      // refuses it: the brute-force guard counts those).
      const withCredentials = await p.request({
        method: 'REGISTER',
        to: 'sip:nobody@127.0.0.1',
        headers: ['Contact: <sip:nobody@127.0.0.1:5999>', 'Authorization: Digest username="nobody", realm="127.0.0.1", nonce="x", uri="sip:127.0.0.1", response="00"'],
      });
      assert.ok(withCredentials.status >= 400, `answered: ${withCredentials.status}`);

      // Two per second come back.
      await sleep(600);
      const again = await p.request({ method: 'OPTIONS' });
      assert.equal(again.status, 200);
    } finally {
      p.close();
    }
  });
});
