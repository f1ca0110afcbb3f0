import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_DENIED_DESTINATIONS, DestinationPolicy, parseDeniedRanges } from '../../server/sip/destinationPolicy.ts';
import { ConfigError, loadConfig } from '../../server/config.ts';

test('by default the switch sends nowhere inside its own host, link or private network: loopback, link-local, multicast, private and shared ranges', () => {
  const p = new DestinationPolicy(DEFAULT_DENIED_DESTINATIONS);
  const inside = [
    '127.0.0.1',
    '127.8.9.10',
    '169.254.169.254',
    '0.0.0.0',
    '0.1.2.3',
    '224.0.0.1',
    '255.255.255.255',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.254',
    '192.168.1.1',
    '100.64.0.1',
    '100.127.255.254',
    '192.0.0.8',
    '198.18.0.1',
    '240.0.0.1',
    '::1',
    'fe80::1',
    '::',
    'fc00::1',
    'fd12:3456::1',
    'ff02::1',
    // IPv4 addresses written as IPv6 reach the same hosts.
    '::ffff:127.0.0.1',
    '::ffff:10.0.0.1',
    '64:ff9b::a00:1',
  ];
  for (const a of inside) assert.equal(p.allows(a), false, a);
  for (const a of ['203.0.113.5', '198.51.100.7', '172.32.0.1', '100.128.0.1', '11.0.0.1', '2001:db8::1', '2a00:1450::1']) assert.equal(p.allows(a), true, a);
  assert.equal(p.allows('not-an-ip'), false);
});

test('DESTINATION_ALLOW opens ranges inside the denied ones, for a private deployment', () => {
  const c = loadConfig({ DESTINATION_ALLOW: '10.20.0.0/16, 192.168.7.7' });
  const p = new DestinationPolicy(c.deniedDestinations, c.allowedDestinations);
  assert.equal(p.allows('10.20.3.4'), true);
  assert.equal(p.allows('192.168.7.7'), true);
  assert.equal(p.allows('10.21.0.1'), false);
  assert.equal(p.allows('127.0.0.1'), false);
  assert.throws(
    () => loadConfig({ DESTINATION_ALLOW: 'pbx.local' }),
    (e: Error) => e instanceof ConfigError && /DESTINATION_ALLOW/.test(e.message),
  );
});

test('DESTINATION_DENY takes CIDR blocks and addresses, "none" allows all, and a bad entry stops the start naming it', () => {
  assert.deepEqual(parseDeniedRanges('10.0.0.0/8, 192.0.2.7'), ['10.0.0.0/8', '192.0.2.7']);
  assert.deepEqual(parseDeniedRanges('none'), []);
  assert.match(parseDeniedRanges('10.0.0.0/33') as string, /10\.0\.0\.0\/33/);
  const custom = new DestinationPolicy(parseDeniedRanges('10.0.0.0/8') as string[]);
  assert.equal(custom.allows('10.9.9.9'), false);
  assert.equal(custom.allows('127.0.0.1'), true);
  assert.deepEqual(loadConfig({ DESTINATION_DENY: 'none' }).deniedDestinations, []);
  assert.deepEqual(loadConfig({}).deniedDestinations, DEFAULT_DENIED_DESTINATIONS);
  assert.throws(
    () => loadConfig({ DESTINATION_DENY: 'example.com' }),
    (e: Error) => e instanceof ConfigError && /DESTINATION_DENY/.test(e.message),
  );
});
