import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { ClientTransactionTable } from '../../server/sip/clientTransactions.ts';
import { frameDatagram } from '../../server/sip/framing.ts';
import type { SipRequest, SipResponse } from '../../server/sip/message.ts';

const timers = { t1: 20, t2: 80, t4: 100 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('client transactions over UDP', () => {
  let local: dgram.Socket;
  let remote: dgram.Socket;
  let table: ClientTransactionTable;
  const seen: string[] = [];
  const peer = () => ({ transport: 'udp' as const, address: '127.0.0.1', port: remote.address().port });

  before(async () => {
    local = dgram.createSocket('udp4');
    remote = dgram.createSocket('udp4');
    await Promise.all([new Promise<void>((r) => local.bind(0, '127.0.0.1', () => r())), new Promise<void>((r) => remote.bind(0, '127.0.0.1', () => r()))]);
    remote.on('message', (b) => seen.push(b.toString()));
    table = new ClientTransactionTable(
      { send: (p, data) => (local.send(data, p.port, p.address), true), sentBy: () => ({ host: '127.0.0.1', port: local.address().port }), onUnserializable: () => {} },
      timers,
    );
    local.on('message', (b) => {
      const f = frameDatagram(b, 16384);
      if (f.kind === 'message') table.receive(f.message as SipResponse);
    });
  });
  after(() => {
    table.stop();
    local.close();
    remote.close();
  });

  const request = (method: string): SipRequest => ({
    method,
    uri: 'sip:bob@127.0.0.1',
    version: '2.0',
    headers: {
      from: { uri: 'sip:alice@127.0.0.1', params: { tag: 'a1' } },
      to: { uri: 'sip:bob@127.0.0.1', params: {} },
      'call-id': `${method}-${Math.random()}`,
      cseq: { seq: 1, method },
      'max-forwards': '70',
    },
    content: '',
  });
  /** The remote UA answers the request it received (text in `raw`). */
  const answer = (raw: string, status: number, reason: string, toTag = 'b1') => {
    const head = raw.split('\r\n\r\n')[0]!.split('\r\n');
    const keep = head.filter((l) => /^(via|from|call-id|cseq):/i.test(l));
    const to = head.find((l) => /^to:/i.test(l))!;
    const text = [`SIP/2.0 ${status} ${reason}`, ...keep, status > 100 ? `${to};tag=${toTag}` : to, 'Content-Length: 0', '', ''].join('\r\n');
    remote.send(text, local.address().port, '127.0.0.1');
  };
  const sentWith = (callId: string, method: string) => seen.filter((m) => m.startsWith(`${method} `) && m.includes(callId));

  test('non-INVITE: retransmits until answered, keeps retransmitting after a 1xx (sip H1), stops after the final', async () => {
    const req = request('OPTIONS');
    const finals: SipResponse[] = [];
    table.send(req, peer(), { onFinal: (r) => finals.push(r) });
    const callId = req.headers['call-id']!;
    await sleep(100);
    const before1xx = sentWith(callId, 'OPTIONS');
    assert.ok(before1xx.length >= 3, `retransmitted: ${before1xx.length}`);
    answer(before1xx[0]!, 100, 'Trying');
    await sleep(250);
    const after1xx = sentWith(callId, 'OPTIONS').length;
    assert.ok(after1xx > before1xx.length, 'still retransmitting at T2 while proceeding');
    answer(before1xx[0]!, 200, 'OK');
    await sleep(30);
    const atFinal = sentWith(callId, 'OPTIONS').length;
    await sleep(200);
    assert.equal(sentWith(callId, 'OPTIONS').length, atFinal, 'no retransmission after the final');
    assert.deepEqual(finals.map((f) => f.status), [200]);
  });

  test('no answer at all: one synthesized 408 after 64*T1 and the transaction is gone', async () => {
    const finals: number[] = [];
    const startSize = table.size;
    table.send(request('OPTIONS'), peer(), { onFinal: (r) => finals.push(r.status) });
    await sleep(64 * timers.t1 + 200);
    assert.deepEqual(finals, [408]);
    assert.equal(table.size, startSize);
  });

  test('INVITE: a 1xx stops retransmission; a non-2xx final is ACKed on the same branch, again on its retransmission', async () => {
    const req = request('INVITE');
    const events: string[] = [];
    const tx = table.send(req, peer(), { onProvisional: (r) => events.push(`p${r.status}`), onFinal: (r) => events.push(`f${r.status}`) });
    const callId = req.headers['call-id']!;
    await sleep(30);
    const invite = sentWith(callId, 'INVITE')[0]!;
    answer(invite, 180, 'Ringing');
    await sleep(150);
    const count = sentWith(callId, 'INVITE').length;
    await sleep(150);
    assert.equal(sentWith(callId, 'INVITE').length, count, 'no INVITE retransmission while ringing');
    answer(invite, 486, 'Busy Here');
    await sleep(40);
    const acks = sentWith(callId, 'ACK');
    assert.equal(acks.length, 1);
    assert.ok(acks[0]!.includes(tx.branch), 'ACK reuses the INVITE branch');
    assert.match(acks[0]!, /To: <sip:bob@127\.0\.0\.1>;tag=b1/);
    answer(invite, 486, 'Busy Here');
    await sleep(40);
    assert.equal(sentWith(callId, 'ACK').length, 2);
    assert.deepEqual(events, ['p180', 'f486']);
  });

  test('INVITE: retransmitted 2xx go to the dialog layer, not the caller again', async () => {
    const req = request('INVITE');
    const finals: number[] = [];
    let retransmitted = 0;
    table.send(req, peer(), { onFinal: (r) => finals.push(r.status), onRetransmitted2xx: () => retransmitted++ });
    await sleep(30);
    const invite = sentWith(req.headers['call-id']!, 'INVITE')[0]!;
    answer(invite, 200, 'OK');
    answer(invite, 200, 'OK');
    await sleep(40);
    assert.deepEqual(finals, [200]);
    assert.equal(retransmitted, 1);
    assert.equal(sentWith(req.headers['call-id']!, 'ACK').length, 0, 'the transaction does not ACK a 2xx');
  });
});
