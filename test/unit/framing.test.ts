import assert from 'node:assert/strict';
import { test } from 'node:test';
import { frameDatagram, StreamFramer, type Frame } from '../../server/sip/framing.ts';

const msg = (body = '', cl: string | null = String(Buffer.byteLength(body))) =>
  [
    'OPTIONS sip:x@127.0.0.1 SIP/2.0',
    'Via: SIP/2.0/TCP 127.0.0.1:5;branch=z9hG4bKa',
    'From: <sip:a@b>;tag=1',
    'To: <sip:x@127.0.0.1>',
    'Call-ID: c1',
    'CSeq: 1 OPTIONS',
    ...(cl === null ? [] : [`Content-Length: ${cl}`]),
    '',
    body,
  ].join('\r\n');

const kinds = (frames: Frame[]) => frames.map((f) => f.kind);

test('a datagram with a body shorter than Content-Length is rejected 400', () => {
  const f = frameDatagram(Buffer.from(msg('abc', '10')), 16384);
  assert.equal(f.kind, 'rejected');
  assert.equal(f.kind === 'rejected' && f.status, 400);
});

test('a datagram body is cut at Content-Length, and CL may be absent on UDP', () => {
  const f = frameDatagram(Buffer.from(msg('hello', '3')), 16384);
  assert.equal(f.kind === 'message' && f.message.content, 'hel');
  const g = frameDatagram(Buffer.from(msg('hello', null)), 16384);
  assert.equal(g.kind === 'message' && g.message.content, 'hello');
});

test('a keep-alive datagram is recognised', () => {
  assert.equal(frameDatagram(Buffer.from('\r\n\r\n'), 100).kind, 'keepalive');
});

test('a stream delivered one byte at a time yields the same messages', () => {
  const text = msg('body-1') + msg('') + msg('second body');
  const whole = new StreamFramer(16384).push(Buffer.from(text));
  const framer = new StreamFramer(16384);
  const bytes: Frame[] = [];
  for (const b of Buffer.from(text)) bytes.push(...framer.push(Buffer.from([b])));
  assert.deepEqual(kinds(whole), ['message', 'message', 'message']);
  assert.deepEqual(bytes, whole);
  assert.equal(bytes[2]!.kind === 'message' && bytes[2]!.message.content, 'second body');
});

test('multi-byte UTF-8 bodies are framed by bytes, not characters', () => {
  const body = 'ünïcödé ☎';
  const frames = new StreamFramer(16384).push(Buffer.from(msg(body) + msg('')));
  assert.deepEqual(kinds(frames), ['message', 'message']);
  assert.equal(frames[0]!.kind === 'message' && frames[0]!.message.content, body);
});

test('a stream without Content-Length is rejected and the framer stops', () => {
  const f = new StreamFramer(16384);
  const frames = f.push(Buffer.from(msg('', null) + msg('')));
  assert.equal(frames.length, 1);
  assert.equal(frames[0]!.kind === 'rejected' && frames[0]!.reason, 'Missing Content-Length');
  assert.ok(f.fatal);
  assert.deepEqual(f.push(Buffer.from(msg(''))), []);
});

test('a head that never ends is cut off at the size limit', () => {
  const f = new StreamFramer(1000);
  const frames = f.push(Buffer.from('OPTIONS sip:x SIP/2.0\r\n' + 'X-A: b\r\n'.repeat(200)));
  assert.deepEqual(kinds(frames), ['garbage']);
  assert.ok(f.fatal);
});

test('keep-alive pings between messages are reported and skipped', () => {
  const frames = new StreamFramer(16384).push(Buffer.from('\r\n\r\n' + msg('') + '\r\n\r\n'));
  assert.deepEqual(kinds(frames), ['keepalive', 'message', 'keepalive']);
});
