/**
 * A request the switch would send with a line break or NUL in a header never reaches the peer: its
 * transaction ends with a 500 of our own, and the refusal is counted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SipRequest, SipResponse } from '../../server/sip/message.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

describe('requests refused at the wire', () => {
  let sw: TestSwitch;
  before(async () => {
    sw = await startTestSwitch('sqlite');
  });
  after(async () => {
    await sw.close();
  });

  const dropped = async (reason: string) => {
    const text = await (await fetch(`${sw.httpUrl}/metrics`)).text();
    return Number(new RegExp(`sip_messages_dropped_total\\{reason="${reason}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  };

  test('a header value with CRLF in it is not sent; the transaction fails with 500 and the refusal is counted', async () => {
    const peer = await TestPhone.open('udp', sw.sipPort);
    try {
      const req: SipRequest = {
        method: 'OPTIONS',
        uri: `sip:peer@127.0.0.1:${peer.localPort}`,
        version: '2.0',
        headers: {
          from: { uri: 'sip:switch@127.0.0.1', params: { tag: 'abc' } },
          to: { uri: `sip:peer@127.0.0.1:${peer.localPort}`, params: {} },
          'call-id': 'refused@test',
          cseq: { seq: 1, method: 'OPTIONS' },
          'max-forwards': '70',
          subject: 'hello\r\nX-Injected: yes',
        },
        content: '',
      };
      const final = await new Promise<SipResponse>((resolve) => {
        sw.running.sip.stack.clientTransactions.send(req, { transport: 'udp', address: '127.0.0.1', port: peer.localPort }, { onFinal: resolve });
      });
      assert.equal(final.status, 500);
      assert.ok(await peer.quiet(() => true, 300), 'nothing reached the peer');
      assert.equal(await dropped('unserializable-request'), 1);
    } finally {
      peer.close();
    }
  });
});
