/** The ICE candidate filter for browsers' SDP (server/calls/iceCandidates.ts, issue 18). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { iceCandidateFilter } from '../../server/calls/iceCandidates.ts';

const SDP = [
  'v=0',
  'o=- 1 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 0',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:abcd',
  'a=candidate:1 1 udp 2122260223 192.168.1.20 50000 typ host generation 0',
  'a=candidate:2 1 udp 2122194687 10.1.2.3 50001 typ host generation 0',
  'a=candidate:3 1 udp 2122129151 172.20.0.5 50002 typ host generation 0',
  'a=candidate:4 1 udp 2122063615 127.0.0.1 50003 typ host generation 0',
  'a=candidate:5 1 udp 2122063615 fe80::1 50004 typ host generation 0',
  'a=candidate:6 1 udp 2122063615 fd00::7 50005 typ host generation 0',
  'a=candidate:7 1 udp 1686052607 203.0.113.9 50006 typ srflx raddr 192.168.1.20 rport 50000 generation 0',
  'a=candidate:8 1 udp 2122063615 2001:db8::5 50007 typ host generation 0',
  'a=candidate:9 1 udp 2122063615 3c4e1a2b-1111-2222-3333-444455556666.local 50008 typ host generation 0',
  'a=candidate:10 1 udp 2122063615 100.64.0.9 50009 typ host generation 0',
  'a=candidate:11 1 udp 2122063615 169.254.3.3 50010 typ host generation 0',
  'a=rtcp-mux',
  'a=fingerprint:sha-256 AA:BB',
  '',
].join('\r\n');

const kept = (sdp: string) =>
  sdp
    .split('\r\n')
    .filter((l) => l.startsWith('a=candidate:'))
    .map((l) => l.split(' ')[0]!.slice('a=candidate:'.length));

describe('ICE candidate filter', () => {
  test('by default only public addresses are kept', () => {
    assert.deepEqual(kept(iceCandidateFilter(null)(SDP)), ['7', '8']);
  });

  test('an allow list keeps only its ranges (loopback, as the tests run)', () => {
    assert.deepEqual(kept(iceCandidateFilter(['127.0.0.0/8'])(SDP)), ['4']);
    assert.deepEqual(kept(iceCandidateFilter(['192.168.0.0/16', '2001:db8::/32', '203.0.113.9'])(SDP)), ['1', '7', '8']);
  });

  test('lines other than candidates pass untouched, in order', () => {
    const out = iceCandidateFilter(['0.0.0.0/0', '::/0'])(SDP.replace(/^a=candidate:.*\r\n/gm, ''));
    assert.equal(out, SDP.replace(/^a=candidate:.*\r\n/gm, ''));
    const others = (s: string) => s.split('\r\n').filter((l) => !l.startsWith('a=candidate:'));
    assert.deepEqual(others(out), others(SDP));
    assert.ok(out.endsWith('\r\n'));
    // LF-only SDP too.
    const lf = SDP.replaceAll('\r\n', '\n');
    assert.deepEqual(
      iceCandidateFilter(['127.0.0.0/8'])(lf)
        .split('\n')
        .filter((l) => l.startsWith('a=candidate:')).length,
      1,
    );
  });

  test('a connection line naming an address taken out points at the first candidate kept', () => {
    const sdp = SDP.replace('m=audio 9 ', 'm=audio 50000 ').replace('c=IN IP4 0.0.0.0', 'c=IN IP4 192.168.1.20');
    const out = iceCandidateFilter(['127.0.0.0/8'])(sdp);
    assert.match(out, /^c=IN IP4 127\.0\.0\.1$/m);
    assert.match(out, /^m=audio 50003 UDP\/TLS\/RTP\/SAVPF 111 0$/m);
    // An allowed one stays as it is.
    assert.equal(
      iceCandidateFilter(['192.168.0.0/16'])(sdp),
      sdp
        .split('\r\n')
        .filter((l) => !l.startsWith('a=candidate:') || / 192\.168\.\S+ \d+ typ/.test(l))
        .join('\r\n'),
    );
  });
});
