import assert from 'node:assert/strict';
import { test } from 'node:test';
import { floodLimit } from '../../server/sip/floodLimit.ts';
import { parseHead, type SipRequest } from '../../server/sip/message.ts';
import type { Peer } from '../../server/sip/transport.ts';

function request(method: string, extra: string[] = [], toTag = ''): SipRequest {
  const head = [
    `${method} sip:alice@example.test SIP/2.0`,
    'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1',
    'From: <sip:bob@example.test>;tag=f1',
    `To: <sip:alice@example.test>${toTag}`,
    'Call-ID: c1',
    `CSeq: 1 ${method}`,
    'Max-Forwards: 70',
    ...extra,
    'Content-Length: 0',
  ].join('\r\n');
  const m = parseHead(head, '');
  assert.ok(m && 'method' in m);
  return m as SipRequest;
}

const from = (address: string): Peer => ({ transport: 'udp', address, port: 5060 });

test('uncredentialed new requests from one source are admitted up to ten seconds of the rate, then dropped', () => {
  const admit = floodLimit(2, () => false)!;
  const verdicts = Array.from({ length: 25 }, () => admit(request('OPTIONS'), from('192.0.2.1')));
  assert.equal(verdicts.filter(Boolean).length, 20);
  assert.equal(verdicts.at(-1), false);
  assert.equal(admit(request('INVITE'), from('192.0.2.2')), true, 'another source has its own allowance');
});

const CREDENTIALS = 'Authorization: Digest username="alice", realm="x", nonce="n", uri="sip:x", response="r"';

test('requests inside a dialog, CANCELs and requests whose credentials prove their source are never counted', () => {
  const admit = floodLimit(1, (req) => JSON.stringify(req.headers).includes('alice'))!;
  const source = from('198.51.100.7');
  while (admit(request('REGISTER'), source));
  assert.equal(admit(request('REGISTER'), source), false, 'the source is over its rate');
  assert.equal(admit(request('BYE', [], ';tag=t1'), source), true);
  assert.equal(admit(request('CANCEL'), source), true);
  assert.equal(admit(request('REGISTER', ['Authorization: Digest username="alice", realm="x", nonce="n", uri="sip:x", response="r"']), source), true);
  assert.equal(admit(request('INVITE', ['Proxy-Authorization: Digest username="alice", realm="x", nonce="n", uri="sip:x", response="r"']), source), true);
});

test('credentials that do not prove their source (made-up nonces) are counted like none', () => {
  const admit = floodLimit(1, () => false)!;
  const verdicts = Array.from({ length: 15 }, () => admit(request('REGISTER', [CREDENTIALS]), from('203.0.113.9')));
  assert.equal(verdicts.filter(Boolean).length, 10);
});

test('a rate of 0 turns the limit off', () => {
  assert.equal(
    floodLimit(0, () => true),
    undefined,
  );
});
