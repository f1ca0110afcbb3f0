import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_DENIED_DESTINATIONS, DestinationPolicy, parseDeniedRanges } from '../../server/sip/destinationPolicy.ts';
import { ConfigError, loadConfig } from '../../server/config.ts';

test('by default the switch sends nowhere inside its own host or link: loopback, link-local, multicast, unspecified', () => {
  const p = new DestinationPolicy(DEFAULT_DENIED_DESTINATIONS);
  for (const a of ['127.0.0.1', '127.8.9.10', '169.254.169.254', '0.0.0.0', '224.0.0.1', '::1', 'fe80::1', '::']) assert.equal(p.allows(a), false, a);
  for (const a of ['192.0.2.10', '203.0.113.5', '10.1.2.3', '2001:db8::1']) assert.equal(p.allows(a), true, a);
  assert.equal(p.allows('not-an-ip'), false);
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
  assert.throws(() => loadConfig({ DESTINATION_DENY: 'example.com' }), (e: Error) => e instanceof ConfigError && /DESTINATION_DENY/.test(e.message));
});
