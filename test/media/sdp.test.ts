/** Reading and rewriting SDP for the relay. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MediaRequestError } from '../../server/media/engine.ts';
import { audioSection, parseSdp, rewriteSdp, sends } from '../../server/media/sdp.ts';

const PHONE = [
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 192.168.1.20',
  's=-',
  'c=IN IP4 192.168.1.20',
  't=0 0',
  'a=sendonly',
  'm=audio 49170 RTP/AVP 0 8 101',
  'a=rtpmap:101 telephone-event/8000',
  'a=rtcp:49175 IN IP4 192.168.1.20',
  'a=ice-ufrag:abcd',
  'a=candidate:1 1 UDP 2130706431 192.168.1.20 49170 typ host',
  'm=video 51372 RTP/AVP 96',
  'c=IN IP4 192.168.1.21',
  'a=rtpmap:96 H264/90000',
  'a=recvonly',
  '',
].join('\r\n');

test('parse: addresses, ports, payload types and directions, session values as defaults', () => {
  const { media } = parseSdp(PHONE);
  assert.equal(media.length, 2);
  const [audio, video] = media;
  assert.equal(audio!.address, '192.168.1.20');
  assert.equal(audio!.port, 49170);
  assert.equal(audio!.direction, 'sendonly', 'from the session level');
  assert.equal(audio!.rtcpPort, 49175);
  assert.deepEqual(audio!.rtpmap.get(0), { encoding: 'PCMU', clockRate: 8000 });
  assert.deepEqual(audio!.rtpmap.get(101), { encoding: 'telephone-event', clockRate: 8000 });
  assert.equal(video!.address, '192.168.1.21');
  assert.equal(video!.direction, 'recvonly');
  assert.equal(audioSection(parseSdp(PHONE))!.index, 0);
  assert.equal(sends(audio!), true);
  assert.equal(sends({ ...audio!, direction: 'recvonly' }), false);
  assert.equal(sends({ ...audio!, address: '0.0.0.0' }), false, 'RFC 2543 hold');
});

test('rewrite: the relay in place of the phone, other streams refused, ICE gone', () => {
  const out = rewriteSdp(PHONE, 0, '203.0.113.5', 30000);
  assert.match(out, /^o=alice 2890844526 2890844526 IN IP4 203\.0\.113\.5$/m);
  assert.doesNotMatch(out, /192\.168\.1/);
  assert.match(out, /^m=audio 30000 RTP\/AVP 0 8 101\r\nc=IN IP4 203\.0\.113\.5$/m);
  assert.match(out, /^a=rtcp:30001$/m);
  assert.match(out, /^m=video 0 RTP\/AVP 96$/m);
  assert.doesNotMatch(out, /ice-ufrag|candidate/);
  assert.match(out, /a=sendonly/, 'directions pass');
  assert.match(out, /a=rtpmap:101 telephone-event\/8000/);
  assert.ok(out.endsWith('\r\n'));
  const again = parseSdp(out);
  assert.equal(again.media[0]!.address, '203.0.113.5');
  assert.equal(again.media[1]!.port, 0);
});

test('bad SDP is refused with a reason', () => {
  assert.throws(
    () => parseSdp('v=0\r\nm=audio 5000 RTP/AVP 0\r\n'),
    (e: Error) => e instanceof MediaRequestError && /without a connection address/.test(e.message),
  );
  assert.throws(() => parseSdp('v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 99999 RTP/AVP 0\r\n'), /out of range/);
  assert.throws(() => parseSdp('v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio\r\n'), /unreadable media line/);
  assert.throws(() => parseSdp('x'.repeat(20_000)), /too long/);
});
