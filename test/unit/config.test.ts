import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError, ensureDataDirWritable, loadConfig } from '../../server/config.ts';

test('defaults: SIP 5060 on 127.0.0.1, portal 8080, SQLite in ./data, MD5 digests', () => {
  const c = loadConfig({});
  assert.equal(c.sip.port, 5060);
  assert.equal(c.sip.host, '127.0.0.1');
  assert.equal(c.http.port, 8080);
  assert.equal(c.databaseUrl, `sqlite://${path.resolve('data/switch.sqlite')}`);
  assert.deepEqual(c.sip.digestAlgorithms, ['MD5']);
  assert.match(c.databaseDescription, /^SQLite file /);
});

test('MySQL URLs are described without their password', () => {
  const c = loadConfig({ DATABASE_URL: 'mysql://app:s3cret@db.internal:3307/switch' });
  assert.equal(c.databaseDescription, 'MySQL database switch on db.internal:3307 as app');
  assert.equal(c.databaseDescription.includes('s3cret'), false);
});

test('every invalid setting is reported by name', () => {
  assert.throws(
    () => loadConfig({ SIP_PORT: 'abc', SIP_DIGEST_ALGORITHMS: 'MD5,SHA-1', DATABASE_URL: 'postgres://x', SIP_HOST: 'localhost' }),
    (err: ConfigError) => err instanceof ConfigError && ['SIP_PORT', 'SIP_DIGEST_ALGORITHMS', 'DATABASE_URL', 'SIP_HOST'].every((k) => err.problems.some((p) => p.startsWith(k))),
  );
  assert.throws(() => loadConfig({ SIP_MIN_EXPIRES: '600', SIP_MAX_EXPIRES: '60' }), /SIP_MIN_EXPIRES/);
});

test('algorithm order is a setting', () => {
  assert.deepEqual(loadConfig({ SIP_DIGEST_ALGORITHMS: 'sha-256, md5' }).sip.digestAlgorithms, ['SHA-256', 'MD5']);
});

test('a config file is read, and the environment wins over it', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'cfg-'));
  const file = path.join(dir, 'switch.env');
  writeFileSync(file, '# comment\nSIP_PORT=5070\nSIP_DOMAIN="pbx.example.test"\n');
  const c = loadConfig({ CONFIG_FILE: file, SIP_PORT: '5080' });
  assert.equal(c.sip.port, 5080);
  assert.equal(c.sip.domain, 'pbx.example.test');
});

test('an unwritable data directory is refused', () => {
  assert.throws(() => ensureDataDirWritable('/etc/hostname/sipswitch-data'), /DATA_DIR: .* is not writable/);
});

test('the advertised address is host[:port], defaults to the bind address, and is required when binding 0.0.0.0', () => {
  assert.deepEqual(loadConfig({}).sip.advertised, { host: '127.0.0.1', port: null });
  assert.deepEqual(loadConfig({ SIP_ADVERTISED_ADDRESS: 'SIP.Example.com' }).sip.advertised, { host: 'sip.example.com', port: null });
  assert.deepEqual(loadConfig({ SIP_ADVERTISED_ADDRESS: '203.0.113.7:5070' }).sip.advertised, { host: '203.0.113.7', port: 5070 });
  for (const bad of ['sip.example.com:99999', 'user@sip.example.com', 'sip.example.com/x', '[2001:db8::1]', '999.1.1.1', 'a b']) {
    assert.throws(
      () => loadConfig({ SIP_ADVERTISED_ADDRESS: bad }),
      (err: ConfigError) => err.problems.some((p) => p.startsWith('SIP_ADVERTISED_ADDRESS')),
      bad,
    );
  }
  assert.throws(
    () => loadConfig({ SIP_HOST: '0.0.0.0' }),
    (err: ConfigError) => err.problems.some((p) => p.startsWith('SIP_ADVERTISED_ADDRESS') && p.includes('0.0.0.0')),
  );
  assert.equal(loadConfig({ SIP_HOST: '0.0.0.0', SIP_ADVERTISED_ADDRESS: '198.51.100.4' }).sip.host, '0.0.0.0');
});

test('softphone settings: ICE_CANDIDATE_ALLOW is a CIDR list (unset: public addresses only), SOFTPHONE_PASSWORD_SECONDS', () => {
  assert.equal(loadConfig({}).media.iceCandidateAllow, null);
  assert.equal(loadConfig({}).http.softphonePasswordSeconds, 600);
  assert.deepEqual(loadConfig({ ICE_CANDIDATE_ALLOW: '127.0.0.0/8, 2001:db8::/32' }).media.iceCandidateAllow, ['127.0.0.0/8', '2001:db8::/32']);
  assert.throws(() => loadConfig({ ICE_CANDIDATE_ALLOW: '10.0.0.0/40' }), /ICE_CANDIDATE_ALLOW/);
  assert.throws(() => loadConfig({ SOFTPHONE_PASSWORD_SECONDS: '0' }), /SOFTPHONE_PASSWORD_SECONDS/);
});
