import assert from 'node:assert/strict';
import { test } from 'node:test';
import { answerChallenge, readChallenge } from '../../server/sip/digestClient.ts';
import { unquote } from '../../server/sip/digest.ts';
import type { SipResponse } from '../../server/sip/message.ts';

function challenge(status: 401 | 407, offers: Array<Record<string, string>>): SipResponse {
  const key = status === 407 ? 'proxy-authenticate' : 'www-authenticate';
  return { status, reason: 'Unauthorized', version: '2.0', headers: { [key]: offers.map((o) => ({ scheme: 'Digest', ...o })) }, content: '' };
}

test('answers RFC 2617 §3.5 example (MD5, qop=auth) with the published response', () => {
  const c = readChallenge(
    challenge(401, [{ realm: '"testrealm@host.com"', qop: '"auth,auth-int"', nonce: '"dcd98b7102dd2f0e8b11d0f600bfb0c093"', opaque: '"5ccc069c403ebaf9f0171e9517f40e41"' }]),
  );
  assert.ok(c);
  assert.equal(c.header, 'authorization');
  const a = answerChallenge(c, { username: 'Mufasa', password: 'Circle Of Life' }, 'GET', '/dir/index.html', { cnonce: '0a4f113b' });
  assert.equal(unquote(a.response), '6629fae49393a05397450978507c4ef1');
  assert.equal(a.nc, '00000001');
  assert.equal(a.qop, 'auth');
  assert.equal(unquote(a.opaque), '5ccc069c403ebaf9f0171e9517f40e41');
});

test('answers RFC 7616 §3.9.1 example with SHA-256 when both algorithms are offered', () => {
  const res = challenge(401, [
    {
      realm: '"http-auth@example.org"',
      qop: '"auth, auth-int"',
      algorithm: 'MD5',
      nonce: '"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"',
      opaque: '"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
    },
    {
      realm: '"http-auth@example.org"',
      qop: '"auth, auth-int"',
      algorithm: 'SHA-256',
      nonce: '"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"',
      opaque: '"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
    },
  ]);
  const c = readChallenge(res)!;
  assert.equal(c.algorithm, 'SHA-256');
  const a = answerChallenge(c, { username: 'Mufasa', password: 'Circle of Life' }, 'GET', '/dir/index.html', { cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ' });
  assert.equal(unquote(a.response), '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
});

test('a 407 is answered in Proxy-Authorization; a challenge without qop gets the RFC 2069 form', () => {
  const c = readChallenge(challenge(407, [{ realm: '"sip.example"', nonce: '"abc"' }]))!;
  assert.equal(c.header, 'proxy-authorization');
  assert.equal(c.qop, null);
  const a = answerChallenge(c, { username: 'u', password: 'p' }, 'INVITE', 'sip:123@sip.example');
  assert.equal(a.qop, undefined);
  assert.equal(a.cnonce, undefined);
  assert.match(unquote(a.response)!, /^[0-9a-f]{32}$/);
});

test('no answerable challenge: unknown scheme, unknown algorithm, auth-int only, missing nonce', () => {
  assert.equal(readChallenge(challenge(401, [{ realm: '"r"', nonce: '"n"', algorithm: 'SHA-512-256' }])), null);
  assert.equal(readChallenge(challenge(401, [{ realm: '"r"', nonce: '"n"', qop: '"auth-int"' }])), null);
  assert.equal(readChallenge(challenge(401, [{ realm: '"r"' }])), null);
  assert.equal(readChallenge({ status: 401, reason: 'x', version: '2.0', headers: { 'www-authenticate': [{ scheme: 'Basic', realm: '"r"' }] }, content: '' }), null);
});
