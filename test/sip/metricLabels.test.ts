/**
 * Label values of the SIP metrics come from a fixed vocabulary, whatever strangers send or tenants'
 * dialplans answer: a method or status the switch does not know becomes `other` or its class, so
 * nobody outside can grow the number of time series.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSipAccount, signUp } from '../helpers/api.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';

describe('SIP metric labels', () => {
  let sw: TestSwitch;
  before(async () => {
    sw = await startTestSwitch('sqlite');
  });
  after(async () => {
    await sw.close();
  });

  const labelValues = async (metric: string, label: string) => {
    const text = await (await fetch(`${sw.httpUrl}/metrics`)).text();
    const values = new Set<string>();
    for (const m of text.matchAll(new RegExp(`^${metric}\\{[^}]*${label}="([^"]*)"`, 'gm'))) values.add(m[1]!);
    return values;
  };

  test('methods nobody knows are counted as "other", each known method under its name', async () => {
    const p = await TestPhone.open('udp', sw.sipPort);
    try {
      for (let i = 0; i < 30; i++) {
        const r = await p.request({ method: `XMADEUP${i}`, cseq: i + 1 });
        assert.equal(r.status, 501);
      }
      assert.equal((await p.request({ method: 'OPTIONS' })).status, 200);
    } finally {
      p.close();
    }
    const kinds = await labelValues('sip_messages_received_total', 'kind');
    assert.ok(kinds.has('other') && kinds.has('OPTIONS'), [...kinds].join(','));
    assert.deepEqual(
      [...kinds].filter((k) => k.startsWith('XMADEUP')),
      [],
    );
  });

  test('a status code a dialplan answers with that SIP does not define is counted by its class', async () => {
    const api = await signUp(sw.httpUrl);
    const acct = await createSipAccount(api);
    assert.equal((await api.request('PUT', '/dialplans/odd', { source: "export default async function () { return respond(499, 'Odd'); }\n" })).status, 201);
    assert.equal((await api.patch(`/sip-accounts/${acct.id}`, { dialplanIn: 'odd' })).status, 200);
    const caller = await TestPhone.open('udp', sw.sipPort);
    try {
      const invite = caller.build({
        method: 'INVITE',
        uri: `sip:${acct.username}@127.0.0.1`,
        to: `sip:${acct.username}@127.0.0.1`,
        from: 'sip:stranger@example.net',
        headers: [`Contact: <sip:s@127.0.0.1:${caller.localPort}>`, 'Content-Type: application/sdp'],
        body: SDP,
      });
      caller.sendRaw(invite.text);
      const final = await caller.waitFor((r) => r.includes(invite.branch) && /^SIP\/2\.0 [3-6]\d\d/.test(r), 8000);
      assert.match(final, /^SIP\/2\.0 499 /);
    } finally {
      caller.close();
    }
    const statuses = await labelValues('sip_responses_sent_total', 'status');
    assert.ok(statuses.has('4xx'), [...statuses].join(','));
    assert.ok(!statuses.has('499'), [...statuses].join(','));
    assert.ok(statuses.has('100') && statuses.has('501'), 'codes SIP defines keep their number');
  });
});
