/**
 * The last line of defence before the wire: whatever a caller put into a message, no CR, LF or NUL
 * reaches the start line or a header (a header injected into a request, a response split in two).
 * Such a message is refused (undefined), like one the serializer cannot write at all.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseHead, serialize, type SipMessage, type SipRequest, type SipResponse } from '../../server/sip/message.ts';

const HEAD = [
  'INVITE sip:bob@example.com SIP/2.0',
  'Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport',
  'From: "Alice" <sip:alice@example.com>;tag=1',
  'To: <sip:bob@example.com>',
  'Call-ID: a@b',
  'CSeq: 1 INVITE',
  'Contact: <sip:alice@10.0.0.1;transport=udp>',
  'Route: <sip:proxy.example.com;lr>',
  'X-Note: hello',
].join('\r\n');

const request = () => parseHead(HEAD, '') as SipRequest;
const response = (): SipResponse => {
  const r = request();
  return {
    status: 486,
    reason: 'Busy Here',
    version: '2.0',
    headers: { via: r.headers.via, from: r.headers.from, to: r.headers.to, 'call-id': r.headers['call-id'], cseq: r.headers.cseq },
    content: '',
  };
};

test('an ordinary message, with a body full of line breaks, is serialized', () => {
  const m = request();
  m.content = 'v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\n';
  const data = serialize(m);
  assert.ok(data);
  assert.match(data.toString(), /^INVITE sip:bob@example.com SIP\/2.0\r\n/);
  assert.ok(serialize(response()));
});

const poisons = ['\r\nX-Injected: 1', '\nX-Injected: 1', '\rX', 'a\0b'];

/** Where a value can hide, and whether a response (Via, From, To, Call-ID, CSeq only) has that place too. */
const places: Array<[string, (m: SipMessage, bad: string) => void, inResponse: boolean]> = [
  ['a display name', (m, bad) => (m.headers.from!.name = `"A${bad}"`), true],
  ['a user part', (m, bad) => (m.headers.to!.uri = `sip:b${bad}ob@example.com`), true],
  ['a URI parameter', (m, bad) => ((m.headers.contact as Array<{ uri: string }>)[0]!.uri = `sip:alice@10.0.0.1;maddr=1.2.3.4${bad}`), false],
  ['a Via parameter', (m, bad) => (m.headers.via![0]!.params.received = `10.0.0.9${bad}`), true],
  ['a From parameter', (m, bad) => (m.headers.from!.params.tag = `1${bad}`), true],
  ['a Route entry', (m, bad) => ((m.headers.route as Array<{ uri: string }>)[0]!.uri = `sip:proxy${bad}.example.com;lr`), false],
  ['a header of its own', (m, bad) => (m.headers['x-note'] = `hello${bad}`), true],
  ['a header name', (m, bad) => (m.headers[`x-note${bad}`] = 'hello'), true],
  ['the Call-ID', (m, bad) => (m.headers['call-id'] = `a${bad}@b`), true],
  ['the CSeq method', (m, bad) => (m.headers.cseq!.method = `INVITE${bad}`), true],
  ['a URI header', (m, bad) => (m.headers.to!.uri = `sip:bob@example.com?subject=hi${bad}`), true],
];

for (const [where, poison, inResponse] of places) {
  test(`CR, LF or NUL in ${where} is refused`, () => {
    for (const bad of poisons) {
      const m = request();
      poison(m, bad);
      assert.equal(serialize(m), undefined, `${JSON.stringify(bad)} in ${where}`);
      if (!inResponse) continue;
      const r = response();
      poison(r, bad);
      assert.equal(serialize(r), undefined, `${JSON.stringify(bad)} in ${where} of a response`);
    }
  });
}

test('CR, LF or NUL in the start line is refused', () => {
  for (const bad of poisons) {
    const m = request();
    m.uri = `sip:bob@example.com${bad}`;
    assert.equal(serialize(m), undefined, 'Request-URI');
    const n = request();
    n.method = `INVITE${bad}`;
    assert.equal(serialize(n), undefined, 'method');
    const r = response();
    r.reason = `Busy${bad}`;
    assert.equal(serialize(r), undefined, 'reason phrase');
  }
});

test('whitespace inside the Request-URI or the method is refused: it would split the start line', () => {
  const m = request();
  m.uri = 'sip:bob@example.com SIP/2.0';
  assert.equal(serialize(m), undefined);
  const n = request();
  n.method = 'INVITE sip:x';
  assert.equal(serialize(n), undefined);
});
