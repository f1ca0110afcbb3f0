import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { computeHa1, DigestAuthenticator, readCredentials, type Credentials } from '../../server/sip/digest.ts';

const realm = 'sip.example.test';
const auth = () => new DigestAuthenticator({ realm, secret: Buffer.from('k'.repeat(32)), nonceTtlMs: 60_000 });
const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function creds(nonce: string, o: Partial<Credentials> & { password?: string } = {}): Credentials {
  const username = o.username ?? 'alice';
  const algorithm = o.algorithm ?? 'MD5';
  const h = algorithm === 'MD5' ? md5 : sha;
  const nc = o.nc ?? '00000001';
  const cnonce = o.cnonce ?? 'abc';
  const uri = o.uri ?? 'sip:sip.example.test';
  const ha1 = h(`${username}:${realm}:${o.password ?? 'secret'}`);
  const response = h(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${h(`REGISTER:${uri}`)}`);
  return { username, realm, nonce, uri, response, algorithm, qop: 'auth', nc, cnonce, ...o };
}

const ha1 = (alg: 'MD5' | 'SHA-256') => computeHa1(alg, 'alice', realm, 'secret');

test('HA1 is H(username:realm:password) for both algorithms', () => {
  assert.equal(ha1('MD5'), md5(`alice:${realm}:secret`));
  assert.equal(ha1('SHA-256'), sha(`alice:${realm}:secret`));
});

test('challenges name their algorithm, qop and realm, one per algorithm in order', () => {
  const c = auth().challenge(['SHA-256', 'MD5'], '10.0.0.1');
  assert.deepEqual(
    c.map((x) => x.algorithm),
    ['SHA-256', 'MD5'],
  );
  assert.equal(c[0]!.nonce, c[1]!.nonce);
  assert.equal(c[0]!.qop, '"auth"');
  assert.equal(c[0]!.realm, `"${realm}"`);
});

test('valid MD5 and SHA-256 responses are accepted', () => {
  const a = auth();
  for (const alg of ['MD5', 'SHA-256'] as const) {
    const nonce = a.newNonce('10.0.0.1');
    assert.deepEqual(a.verify(creds(nonce, { algorithm: alg }), 'REGISTER', 'sip:sip.example.test', '10.0.0.1', ['MD5', 'SHA-256'], ha1(alg)), { ok: true, algorithm: alg });
  }
});

test('a failed attempt does not break the next valid one (unlike sip/digest, H3)', () => {
  const a = auth();
  const nonce = a.newNonce('10.0.0.1');
  const bad = a.verify(creds(nonce, { password: 'wrong' }), 'REGISTER', 'sip:sip.example.test', '10.0.0.1', ['MD5'], ha1('MD5'));
  assert.deepEqual(bad, { ok: false, why: 'bad-credentials' });
  assert.equal(a.verify(creds(nonce), 'REGISTER', 'sip:sip.example.test', '10.0.0.1', ['MD5'], ha1('MD5')).ok, true);
});

test('nonce-count replay, expiry, foreign client address and unknown users', () => {
  const a = auth();
  const t0 = 1_000_000;
  const nonce = a.newNonce('10.0.0.1', t0);
  assert.equal(a.verify(creds(nonce), 'REGISTER', 'sip:sip.example.test', '10.0.0.1', ['MD5'], ha1('MD5'), t0).ok, true);
  assert.deepEqual(a.verify(creds(nonce), 'REGISTER', 'sip:sip.example.test', '10.0.0.1', ['MD5'], ha1('MD5'), t0), { ok: false, why: 'replay' });
  assert.equal(a.verify(creds(nonce, { nc: '00000002' }), 'REGISTER', 'sip:sip.example.test', '10.0.0.1', ['MD5'], ha1('MD5'), t0).ok, true);
  assert.deepEqual(a.verify(creds(nonce, { nc: '00000003' }), 'REGISTER', 'sip:sip.example.test', '10.0.0.1', ['MD5'], ha1('MD5'), t0 + 61_000), { ok: false, why: 'stale' });
  assert.deepEqual(a.verify(creds(nonce, { nc: '00000004' }), 'REGISTER', 'sip:sip.example.test', '10.0.0.2', ['MD5'], ha1('MD5'), t0), { ok: false, why: 'bad-nonce' });
  assert.deepEqual(a.verify(creds(a.newNonce('10.0.0.1')), 'REGISTER', 'sip:sip.example.test', '10.0.0.1', ['MD5'], null), { ok: false, why: 'bad-credentials' });
});

test('qop other than auth, a missing cnonce, or an algorithm not offered are refused', () => {
  const a = auth();
  const nonce = a.newNonce('10.0.0.1');
  assert.equal(a.verify(creds(nonce, { qop: undefined }), 'REGISTER', 'sip:sip.example.test', '10.0.0.1', ['MD5'], ha1('MD5')).ok, false);
  assert.equal(a.verify(creds(nonce, { cnonce: undefined }), 'REGISTER', 'sip:sip.example.test', '10.0.0.1', ['MD5'], ha1('MD5')).ok, false);
  assert.deepEqual(a.verify(creds(nonce), 'REGISTER', 'sip:sip.example.test', '10.0.0.1', ['SHA-256'], ha1('MD5')), { ok: false, why: 'algorithm' });
});

test('credentials are read from a parsed Authorization header, quotes removed', () => {
  const c = readCredentials({ scheme: 'Digest', username: '"bob"', realm: '"r"', nonce: '"n"', uri: '"sip:r"', response: '"abc"', qop: 'auth', nc: '00000001', cnonce: '"x"' });
  assert.deepEqual(c, { username: 'bob', realm: 'r', nonce: 'n', uri: 'sip:r', response: 'abc', algorithm: 'MD5', qop: 'auth', nc: '00000001', cnonce: 'x' });
  assert.equal(readCredentials({ scheme: 'Basic', username: 'x' }), undefined);
  assert.equal(readCredentials({ scheme: 'Digest', username: '"bob"' }), undefined);
  assert.equal(readCredentials({ scheme: 'Digest', username: '"b"', realm: '"r"', nonce: '"n"', uri: '"u"', response: '"r"', algorithm: 'SHA-512-256' })!.algorithm, undefined);
});

test('a nonce is fresh for the address it was issued to, expired after its time, foreign to any other address', () => {
  const a = auth();
  const t0 = 2_000_000;
  const nonce = a.newNonce('10.0.0.1', t0);
  assert.equal(a.nonceState(nonce, '10.0.0.1', t0 + 1000), 'fresh');
  assert.equal(a.nonceState(nonce, '10.0.0.1', t0 + 61_000), 'expired');
  assert.equal(a.nonceState(nonce, '10.0.0.2', t0 + 1000), 'foreign');
  assert.equal(a.nonceState('made.up.nonce', '10.0.0.1', t0), 'foreign');
  assert.equal(a.nonceState('', '10.0.0.1', t0), 'foreign');
});

test('credentials for another resource than the Request-URI are refused as such, for known and unknown users alike', () => {
  const a = auth();
  const nonce = a.newNonce('10.0.0.1');
  const other = creds(nonce, { uri: 'sip:elsewhere.example.test' });
  assert.deepEqual(a.verify(other, 'REGISTER', 'sip:sip.example.test', '10.0.0.1', ['MD5'], ha1('MD5')), { ok: false, why: 'uri-mismatch' });
  assert.deepEqual(a.verify(other, 'REGISTER', 'sip:sip.example.test', '10.0.0.1', ['MD5'], null), { ok: false, why: 'uri-mismatch' });
  // The same URI written with its default port and a transport parameter is the same resource.
  assert.equal(a.verify(creds(nonce, { uri: 'sip:sip.example.test:5060;transport=udp' }), 'REGISTER', 'sip:sip.example.test', '10.0.0.1', ['MD5'], ha1('MD5')).ok, true);
});
