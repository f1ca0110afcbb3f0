import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SipRequest } from '../../server/sip/message.ts';
import { ServerTransaction, TransactionTable, T1 } from '../../server/sip/transactions.ts';

function request(method: string, branch: string): SipRequest {
  return {
    method,
    uri: 'sip:x@127.0.0.1',
    version: '2.0',
    headers: {
      via: [{ version: '2.0', protocol: 'UDP', host: '127.0.0.1', port: 5, params: { branch } }],
      from: { uri: 'sip:a@b', params: { tag: '1' } },
      to: { uri: 'sip:x@127.0.0.1', params: {} },
      'call-id': 'c',
      cseq: { seq: 1, method },
    },
    content: '',
  };
}

function table() {
  const sent: string[] = [];
  const t = new TransactionTable({ send: (_p, d) => sent.push(d.toString()), onResponseSent: () => {}, onUnserializable: () => {} }, { answerDeadlineMs: 1000 });
  return { t, sent };
}

const peer = { transport: 'udp' as const, address: '127.0.0.1', port: 5 };

test('completed non-INVITE transactions are kept for Timer J, then freed (sip package H2 leaked them)', () => {
  const { t } = table();
  const now = Date.now();
  for (let i = 0; i < 100; i++) {
    const tx = new ServerTransaction(`k${i}`, request('OPTIONS', `z9hG4bK${i}`), peer, peer, undefined, t);
    t.add(tx);
    tx.respond(200);
  }
  assert.equal(t.size, 100);
  t.sweep(now + 64 * T1 - 100);
  assert.equal(t.size, 100, 'still absorbing retransmissions');
  t.sweep(now + 64 * T1 + 1000);
  assert.equal(t.size, 0);
});

test('a request the handler never answers gets a 500 at the deadline and then expires', () => {
  const { t, sent } = table();
  const tx = new ServerTransaction('k', request('OPTIONS', 'z9hG4bKx'), peer, peer, undefined, t);
  t.add(tx);
  t.sweep(Date.now() + 1500);
  assert.match(sent[0]!, /^SIP\/2\.0 500 /);
  t.sweep(Date.now() + 1500 + 64 * T1 + 1000);
  assert.equal(t.size, 0);
});

test('responses after the final one are ignored; retransmissions resend the final', () => {
  const { t, sent } = table();
  const tx = new ServerTransaction('k', request('OPTIONS', 'z9hG4bKy'), peer, peer, undefined, t);
  t.add(tx);
  tx.respond(200);
  tx.respond(500);
  tx.retransmitted();
  assert.equal(sent.length, 2);
  assert.equal(sent[0], sent[1]);
  t.stop();
});
