import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, describe, test } from 'node:test';
import { ClientTransactionTable } from '../../server/sip/clientTransactions.ts';
import { frameDatagram } from '../../server/sip/framing.ts';
import type { SipRequest, SipResponse } from '../../server/sip/message.ts';
import { eventually, silence } from '../helpers/time.ts';

const timers = { t1: 20, t2: 80, t4: 100 };

describe('client transactions over UDP', () => {
  let local: dgram.Socket;
  let remote: dgram.Socket;
  let table: ClientTransactionTable;
  /** What the table sent, as it sent it. */
  const sent: string[] = [];
  const peer = () => ({ transport: 'udp' as const, address: '127.0.0.1', port: remote.address().port });

  before(async () => {
    local = dgram.createSocket('udp4');
    remote = dgram.createSocket('udp4');
    await Promise.all([new Promise<void>((r) => local.bind(0, '127.0.0.1', () => r())), new Promise<void>((r) => remote.bind(0, '127.0.0.1', () => r()))]);
    table = new ClientTransactionTable(
      {
        send: (p, data) => {
          sent.push(data.toString());
          local.send(data, p.port, p.address);
          return true;
        },
        sentBy: () => ({ host: '127.0.0.1', port: local.address().port }),
        onUnserializable: () => {},
      },
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
  const sentWith = (callId: string, method: string) => sent.filter((m) => m.startsWith(`${method} `) && m.includes(callId));

  test('non-INVITE: retransmits until answered, keeps retransmitting after a 1xx (sip H1), stops after the final', async () => {
    const req = request('OPTIONS');
    const finals: SipResponse[] = [];
    const provisionals: number[] = [];
    table.send(req, peer(), { onProvisional: (r) => provisionals.push(r.status), onFinal: (r) => finals.push(r) });
    const callId = req.headers['call-id']!;
    const first = await eventually('two retransmissions', () => sentWith(callId, 'OPTIONS').length >= 3 && sentWith(callId, 'OPTIONS')[0]);
    answer(first, 100, 'Trying');
    await eventually('the 100 received', () => provisionals.length === 1);
    const at1xx = sentWith(callId, 'OPTIONS').length;
    await eventually('a retransmission at T2 while proceeding', () => sentWith(callId, 'OPTIONS').length > at1xx);
    answer(first, 200, 'OK');
    await eventually('the final received', () => finals.length === 1);
    const atFinal = sentWith(callId, 'OPTIONS').length;
    await silence(2 * timers.t2);
    assert.equal(sentWith(callId, 'OPTIONS').length, atFinal, 'no retransmission after the final');
    assert.deepEqual(
      finals.map((f) => f.status),
      [200],
    );
  });

  test('no answer at all: one synthesized 408 after 64*T1 and the transaction is gone', async () => {
    const finals: number[] = [];
    const startSize = table.size;
    const sentAt = Date.now();
    table.send(request('OPTIONS'), peer(), { onFinal: (r) => finals.push(r.status) });
    await eventually('the synthesized final', () => finals.length > 0);
    assert.ok(Date.now() - sentAt >= 64 * timers.t1, 'not before 64*T1');
    assert.deepEqual(finals, [408]);
    assert.equal(table.size, startSize);
  });

  test('INVITE: a 1xx stops retransmission; a non-2xx final is ACKed on the same branch, again on its retransmission', async () => {
    const req = request('INVITE');
    const events: string[] = [];
    const tx = table.send(req, peer(), { onProvisional: (r) => events.push(`p${r.status}`), onFinal: (r) => events.push(`f${r.status}`) });
    const callId = req.headers['call-id']!;
    const invite = sentWith(callId, 'INVITE')[0]!;
    answer(invite, 180, 'Ringing');
    await eventually('the 180 received', () => events.includes('p180'));
    const count = sentWith(callId, 'INVITE').length;
    await silence(8 * timers.t1);
    assert.equal(sentWith(callId, 'INVITE').length, count, 'no INVITE retransmission while ringing');
    answer(invite, 486, 'Busy Here');
    const acks = await eventually('the ACK', () => sentWith(callId, 'ACK').length > 0 && sentWith(callId, 'ACK'));
    assert.equal(acks.length, 1);
    assert.ok(acks[0]!.includes(tx.branch), 'ACK reuses the INVITE branch');
    assert.match(acks[0]!, /To: <sip:bob@127\.0\.0\.1>;tag=b1/);
    answer(invite, 486, 'Busy Here');
    await eventually('the ACK of the retransmitted 486', () => sentWith(callId, 'ACK').length === 2);
    assert.deepEqual(events, ['p180', 'f486']);
  });

  test('INVITE: retransmitted 2xx go to the dialog layer, not the caller again', async () => {
    const req = request('INVITE');
    const finals: number[] = [];
    let retransmitted = 0;
    table.send(req, peer(), { onFinal: (r) => finals.push(r.status), onRetransmitted2xx: () => retransmitted++ });
    const invite = sentWith(req.headers['call-id']!, 'INVITE')[0]!;
    answer(invite, 200, 'OK');
    answer(invite, 200, 'OK');
    await eventually('both 200s received', () => finals.length + retransmitted === 2);
    assert.deepEqual(finals, [200]);
    assert.equal(retransmitted, 1);
    assert.equal(sentWith(req.headers['call-id']!, 'ACK').length, 0, 'the transaction does not ACK a 2xx');
  });
});
