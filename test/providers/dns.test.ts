import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { after, before, test } from 'node:test';
import { DnsLookupError, DnsSipResolver, type SipResolverOptions, type SipTarget } from '../../server/providers/dns.ts';
import { startDnsServer, type TestDnsServer } from '../helpers/dnsServer.ts';
import { elapse } from '../helpers/time.ts';

let dns: TestDnsServer;
before(async () => {
  dns = await startDnsServer();
});
after(() => dns.close());

const resolver = (options: SipResolverOptions = {}) => new DnsSipResolver({ servers: [dns.address], timeoutMs: 2000, ...options });
const hops = (targets: SipTarget[]) => targets.map((t) => `${t.address}:${t.port}/${t.transport}/${t.via}`);

async function lookupFailure(p: Promise<unknown>): Promise<DnsLookupError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof DnsLookupError, `expected a DnsLookupError, got ${String(err)}`);
    return err;
  }
  assert.fail('the lookup succeeded');
}

test('an IP literal is its own target, without DNS', async () => {
  const r = resolver({ servers: ['127.0.0.1:9'] }); // nothing listens there: any query would fail
  assert.deepEqual(await r.resolve({ host: '192.0.2.7', transport: 'udp' }), [{ address: '192.0.2.7', port: 5060, transport: 'udp', family: 4, via: 'ip' }]);
  assert.deepEqual(await r.resolve({ host: '[2001:db8::7]', port: 5080, transport: 'tcp' }), [{ address: '2001:db8::7', port: 5080, transport: 'tcp', family: 6, via: 'ip' }]);
  assert.deepEqual(await r.resolve({ host: '2001:db8::8', port: null, transport: 'udp' }), [{ address: '2001:db8::8', port: 5060, transport: 'udp', family: 6, via: 'ip' }]);
});

test('an explicit port asks A then AAAA of the host and never SRV', async () => {
  dns.set('port.test', 'A', ['192.0.2.10', '192.0.2.11']);
  dns.set('port.test', 'AAAA', ['2001:db8::10']);
  dns.set('_sip._udp.port.test', 'SRV', [{ priority: 1, weight: 1, port: 5099, target: 'elsewhere.test' }]);
  const targets = await resolver().resolve({ host: 'port.test', port: 5070, transport: 'udp' });
  assert.deepEqual(hops(targets), ['192.0.2.10:5070/udp/a', '192.0.2.11:5070/udp/a', '2001:db8::10:5070/udp/a']);
  assert.deepEqual(
    targets.map((t) => t.family),
    [4, 4, 6],
  );
  assert.equal(dns.queries('_sip._udp.port.test', 'SRV'), 0);
});

test('a host with only AAAA records resolves to them', async () => {
  dns.set('v6only.test', 'AAAA', ['2001:db8::20']);
  assert.deepEqual(hops(await resolver().resolve({ host: 'v6only.test', port: 5060, transport: 'udp' })), ['2001:db8::20:5060/udp/a']);
});

test('SRV records are tried by priority, each target expanded to its A then AAAA addresses', async () => {
  dns.set('_sip._udp.prio.test', 'SRV', [
    { priority: 20, weight: 0, port: 5062, target: 'backup.prio.test' },
    { priority: 10, weight: 0, port: 5061, target: 'main.prio.test' },
    { priority: 30, weight: 0, port: 5063, target: 'last.prio.test' },
  ]);
  dns.set('main.prio.test', 'A', ['192.0.2.1', '192.0.2.2']);
  dns.set('main.prio.test', 'AAAA', ['2001:db8::1']);
  dns.set('backup.prio.test', 'A', ['192.0.2.3']);
  dns.set('last.prio.test', 'AAAA', ['2001:db8::4']);
  assert.deepEqual(hops(await resolver().resolve({ host: 'prio.test', transport: 'udp' })), [
    '192.0.2.1:5061/udp/srv',
    '192.0.2.2:5061/udp/srv',
    '2001:db8::1:5061/udp/srv',
    '192.0.2.3:5062/udp/srv',
    '2001:db8::4:5063/udp/srv',
  ]);
});

test('TCP uses _sip._tcp records', async () => {
  dns.set('_sip._udp.both.test', 'SRV', [{ priority: 1, weight: 1, port: 5001, target: 'udp.both.test' }]);
  dns.set('_sip._tcp.both.test', 'SRV', [{ priority: 1, weight: 1, port: 5002, target: 'tcp.both.test' }]);
  dns.set('udp.both.test', 'A', ['192.0.2.31']);
  dns.set('tcp.both.test', 'A', ['192.0.2.32']);
  const r = resolver();
  assert.deepEqual(hops(await r.resolve({ host: 'both.test', transport: 'tcp' })), ['192.0.2.32:5002/tcp/srv']);
  assert.deepEqual(hops(await r.resolve({ host: 'both.test', transport: 'udp' })), ['192.0.2.31:5001/udp/srv']);
  assert.equal(dns.queries('_sip._tcp.both.test', 'SRV'), 1);
});

test('TLS uses _sips._tcp records; without them the host on port 5061; an IP literal on 5061 too', async () => {
  dns.set('_sips._tcp.secure.test', 'SRV', [{ priority: 1, weight: 1, port: 5161, target: 'tls.secure.test' }]);
  dns.set('_sip._tcp.secure.test', 'SRV', [{ priority: 1, weight: 1, port: 5060, target: 'plain.secure.test' }]);
  dns.set('tls.secure.test', 'A', ['192.0.2.41']);
  dns.set('nosrv.test', 'A', ['192.0.2.42']);
  const r = resolver();
  assert.deepEqual(hops(await r.resolve({ host: 'secure.test', transport: 'tls' })), ['192.0.2.41:5161/tls/srv']);
  assert.deepEqual(hops(await r.resolve({ host: 'nosrv.test', transport: 'tls' })), ['192.0.2.42:5061/tls/a']);
  assert.deepEqual(hops(await r.resolve({ host: '192.0.2.43', transport: 'tls' })), ['192.0.2.43:5061/tls/ip']);
  assert.equal(dns.queries('_sip._tcp.secure.test', 'SRV'), 0);
});

test('within a priority, the weighted draw follows RFC 2782 (scripted random source)', async () => {
  dns.set('_sip._udp.weights.test', 'SRV', [
    { priority: 5, weight: 10, port: 5002, target: 'b.weights.test' },
    { priority: 5, weight: 0, port: 5001, target: 'a.weights.test' },
    { priority: 5, weight: 30, port: 5003, target: 'c.weights.test' },
    { priority: 1, weight: 0, port: 5000, target: 'first.weights.test' },
  ]);
  for (const [name, ip] of [
    ['first', '192.0.2.40'],
    ['a', '192.0.2.41'],
    ['b', '192.0.2.42'],
    ['c', '192.0.2.43'],
  ] as const) {
    dns.set(`${name}.weights.test`, 'A', [ip]);
  }
  // Priority 5 in draw order: a (0), b (10), c (30); running sums 0, 10, 40; draws in [0, 40].
  let draws: number[] = [];
  const r = resolver({ random: () => draws.shift()! });
  const order = async (script: number[]) => {
    draws = script;
    const ports = (await r.resolve({ host: 'weights.test', transport: 'udp' })).map((t) => t.port);
    assert.equal(draws.length, 0, 'every scripted draw was used');
    return ports;
  };
  // Priority 1 has one record (one draw); then a draw of 0 picks the weight-0 record.
  assert.deepEqual(await order([0.9, 0, 0.99, 0]), [5000, 5001, 5003, 5002]);
  // Draw 20 of [0, 40] falls in c's share (11..40); then of b (10) and a (0): draw 10 picks b.
  assert.deepEqual(await order([0.5, 20.5 / 41, 0.99, 0]), [5000, 5003, 5002, 5001]);
  // Draw 1 is the first in b's share: the draw spans [0, 40], so 1/41 of the range already maps to 1.
  assert.deepEqual(await order([0.5, 1.01 / 41, 0, 0]), [5000, 5002, 5001, 5003]);
  // Draw 10 is the last in b's share (1..10).
  assert.deepEqual(await order([0.5, 10.5 / 41, 0, 0]), [5000, 5002, 5001, 5003]);
  // Draw 11 is the first in c's share.
  assert.deepEqual(await order([0.5, 11.5 / 41, 0.5, 0]), [5000, 5003, 5002, 5001]);
});

test('weighted draws spread over many resolves from the cache (real random source)', async () => {
  dns.set('_sip._udp.spread.test', 'SRV', [
    { priority: 1, weight: 90, port: 5090, target: 'heavy.spread.test' },
    { priority: 1, weight: 10, port: 5010, target: 'light.spread.test' },
    { priority: 1, weight: 0, port: 5000, target: 'zero.spread.test' },
  ]);
  dns.set('heavy.spread.test', 'A', ['192.0.2.50']);
  dns.set('light.spread.test', 'A', ['192.0.2.51']);
  dns.set('zero.spread.test', 'A', ['192.0.2.52']);
  const r = resolver();
  const first = new Map<number, number>();
  const draws = 3000;
  for (let i = 0; i < draws; i++) {
    const port = (await r.resolve({ host: 'spread.test', transport: 'udp' }))[0]!.port;
    first.set(port, (first.get(port) ?? 0) + 1);
  }
  // Expected first: heavy 90/101, light 10/101, zero 1/101 (it wins only on a draw of 0). The
  // bounds are more than 7 standard deviations wide: a failure means a wrong draw, not bad luck.
  const share = (port: number) => (first.get(port) ?? 0) / draws;
  assert.ok(share(5090) > 0.85 && share(5090) < 0.95, `heavy first ${share(5090)}`);
  assert.ok(share(5010) > 0.06 && share(5010) < 0.14, `light first ${share(5010)}`);
  assert.ok(share(5000) > 0 && share(5000) < 0.03, `zero-weight first ${share(5000)}`);
  assert.equal(dns.queries('_sip._udp.spread.test', 'SRV'), 1, 'the draws came from one cached answer');
});

test('without SRV records the host A/AAAA records are used on port 5060', async () => {
  dns.set('nosrv.test', 'A', ['192.0.2.60']);
  dns.set('nosrv.test', 'AAAA', ['2001:db8::60']);
  // The SRV name does not exist (NXDOMAIN under an existing host)...
  assert.deepEqual(hops(await resolver().resolve({ host: 'nosrv.test', transport: 'udp' })), ['192.0.2.60:5060/udp/a', '2001:db8::60:5060/udp/a']);
  assert.equal(dns.queries('_sip._udp.nosrv.test', 'SRV'), 1);
  // ...or exists without SRV records (NOERROR, no data).
  dns.set('_sip._tcp.nosrv.test', 'SRV', []);
  assert.deepEqual(hops(await resolver().resolve({ host: 'nosrv.test', transport: 'tcp' })), ['192.0.2.60:5060/tcp/a', '2001:db8::60:5060/tcp/a']);
});

test('an SRV target of "." means no SIP service: nodata, and no fallback to A', async () => {
  dns.set('_sip._udp.dot.test', 'SRV', [{ priority: 0, weight: 0, port: 0, target: '.' }]);
  dns.set('dot.test', 'A', ['192.0.2.70']);
  const err = await lookupFailure(resolver().resolve({ host: 'dot.test', transport: 'udp' }));
  assert.equal(err.kind, 'nodata');
  assert.equal(err.hostname, '_sip._udp.dot.test');
  assert.equal(dns.queries('dot.test', 'A'), 0);
});

test('SRV targets without addresses are skipped; if none has one, the host is nodata', async () => {
  dns.set('_sip._udp.deadtarget.test', 'SRV', [
    { priority: 1, weight: 0, port: 5001, target: 'gone.deadtarget.test' },
    { priority: 2, weight: 0, port: 5002, target: 'alive.deadtarget.test' },
  ]);
  dns.set('alive.deadtarget.test', 'A', ['192.0.2.80']);
  assert.deepEqual(hops(await resolver().resolve({ host: 'deadtarget.test', transport: 'udp' })), ['192.0.2.80:5002/udp/srv']);

  dns.set('_sip._udp.alldead.test', 'SRV', [{ priority: 1, weight: 0, port: 5001, target: 'gone.alldead.test' }]);
  const err = await lookupFailure(resolver().resolve({ host: 'alldead.test', transport: 'udp' }));
  // The target is NXDOMAIN, but the provider's own name exists: that must not read as nxdomain.
  assert.equal(err.kind, 'nodata');
  assert.equal(err.hostname, 'gone.alldead.test');
  assert.equal(err.code, 'ENOTFOUND');
});

test('a host that does not exist is nxdomain (with and without a port)', async () => {
  const noPort = await lookupFailure(resolver().resolve({ host: 'missing.test', transport: 'udp' }));
  assert.equal(noPort.kind, 'nxdomain');
  assert.equal(noPort.hostname, 'missing.test');
  assert.equal(noPort.code, 'ENOTFOUND');
  const withPort = await lookupFailure(resolver().resolve({ host: 'missing.test', port: 5060, transport: 'udp' }));
  assert.equal(withPort.kind, 'nxdomain');
  // A name that cannot exist at all (c-ares: EBADNAME) is no more worth retrying.
  assert.equal((await lookupFailure(resolver().resolve({ host: 'bad..name.test', port: 5060, transport: 'udp' }))).kind, 'nxdomain');
});

test('a host that exists without addresses is nodata', async () => {
  dns.set('empty.test', 'A', []);
  const err = await lookupFailure(resolver().resolve({ host: 'empty.test', port: 5060, transport: 'udp' }));
  assert.equal(err.kind, 'nodata');
  assert.equal(err.hostname, 'empty.test');
  assert.equal(err.code, 'ENODATA');
});

test('SERVFAIL and REFUSED are transient, for the SRV name and for the host', async () => {
  dns.set('_sip._udp.servfail.test', 'SRV', 'servfail');
  dns.set('servfail.test', 'A', ['192.0.2.90']);
  const srv = await lookupFailure(resolver().resolve({ host: 'servfail.test', transport: 'udp' }));
  assert.equal(srv.kind, 'transient');
  assert.equal(srv.code, 'ESERVFAIL');
  assert.equal(srv.hostname, '_sip._udp.servfail.test');
  assert.equal(dns.queries('servfail.test', 'A'), 0, 'a failed SRV lookup is not "no SRV records"');

  dns.set('hostfail.test', 'A', 'servfail');
  dns.set('hostfail.test', 'AAAA', 'servfail');
  const host = await lookupFailure(resolver().resolve({ host: 'hostfail.test', port: 5060, transport: 'udp' }));
  assert.equal(host.kind, 'transient');
  assert.equal(host.code, 'ESERVFAIL');

  dns.set('refused.test', 'A', 'refused');
  dns.set('refused.test', 'AAAA', 'refused');
  const refused = await lookupFailure(resolver().resolve({ host: 'refused.test', port: 5060, transport: 'udp' }));
  assert.equal(refused.kind, 'transient');
  assert.equal(refused.code, 'EREFUSED');
});

test('one address family failing transiently does not hide the other', async () => {
  dns.set('halfok.test', 'A', ['192.0.2.95']);
  dns.set('halfok.test', 'AAAA', 'servfail');
  assert.deepEqual(hops(await resolver().resolve({ host: 'halfok.test', port: 5060, transport: 'udp' })), ['192.0.2.95:5060/udp/a']);
});

test('an SRV target whose lookup fails transiently makes the whole lookup transient when no other target answers', async () => {
  dns.set('_sip._udp.flaky.test', 'SRV', [
    { priority: 1, weight: 0, port: 5001, target: 'gone.flaky.test' },
    { priority: 2, weight: 0, port: 5002, target: 'sick.flaky.test' },
  ]);
  dns.set('sick.flaky.test', 'A', 'servfail');
  dns.set('sick.flaky.test', 'AAAA', 'servfail');
  const err = await lookupFailure(resolver().resolve({ host: 'flaky.test', transport: 'udp' }));
  assert.equal(err.kind, 'transient');
  assert.equal(err.hostname, 'sick.flaky.test');
});

test('a DNS server that does not answer is transient, within the configured timeout', async () => {
  dns.set('_sip._udp.silent.test', 'SRV', 'drop');
  const r = resolver({ timeoutMs: 400, tries: 2 });
  const started = performance.now();
  const err = await lookupFailure(r.resolve({ host: 'silent.test', transport: 'udp' }));
  const elapsed = performance.now() - started;
  assert.equal(err.kind, 'transient');
  assert.equal(err.code, 'ETIMEOUT');
  // The bound is the resolver's own deadline; the slack only absorbs a busy machine.
  assert.ok(elapsed >= 380 && elapsed < 1400, `gave up after ${Math.round(elapsed)} ms`);
  assert.ok(dns.queries('_sip._udp.silent.test', 'SRV') >= 1);
});

test('a DNS server port with nobody listening is transient', async () => {
  const probe = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', resolve));
  const closedPort = probe.address().port;
  await new Promise<void>((resolve) => probe.close(resolve));
  const err = await lookupFailure(resolver({ servers: [`127.0.0.1:${closedPort}`] }).resolve({ host: 'any.test', port: 5060, transport: 'udp' }));
  assert.equal(err.kind, 'transient');
  assert.equal(err.code, 'ECONNREFUSED');
});

test('answers are cached per host, port and transport, and expire', async () => {
  dns.set('cached.test', 'A', ['192.0.2.100']);
  const r = resolver({ cacheTtlMs: 300 });
  const query = { host: 'cached.test', transport: 'udp' } as const;
  assert.deepEqual(hops(await r.resolve(query)), ['192.0.2.100:5060/udp/a']);
  dns.set('cached.test', 'A', ['192.0.2.101']);
  assert.deepEqual(hops(await r.resolve({ ...query, host: 'CACHED.test.' })), ['192.0.2.100:5060/udp/a'], 'served from the cache');
  assert.equal(dns.queries('cached.test', 'A'), 1);
  assert.equal(dns.queries('_sip._udp.cached.test', 'SRV'), 1);
  // Another port or transport is another question.
  assert.deepEqual(hops(await r.resolve({ ...query, port: 5070 })), ['192.0.2.101:5070/udp/a']);
  assert.deepEqual(hops(await r.resolve({ ...query, transport: 'tcp' })), ['192.0.2.101:5060/tcp/a']);
  assert.equal(dns.queries('cached.test', 'A'), 3);
  await elapse(350);
  assert.deepEqual(hops(await r.resolve(query)), ['192.0.2.101:5060/udp/a'], 'asked again after the TTL');
  assert.equal(dns.queries('cached.test', 'A'), 4);
});

test('the cache keeps no failures, honours a shorter record TTL, can be disabled and is bounded', async () => {
  const r = resolver();
  await lookupFailure(r.resolve({ host: 'notyet.test', port: 5060, transport: 'udp' }));
  dns.set('notyet.test', 'A', ['192.0.2.110']);
  assert.deepEqual(hops(await r.resolve({ host: 'notyet.test', port: 5060, transport: 'udp' })), ['192.0.2.110:5060/udp/a']);

  dns.set('ttl0.test', 'A', ['192.0.2.111'], 0);
  await r.resolve({ host: 'ttl0.test', port: 5060, transport: 'udp' });
  await r.resolve({ host: 'ttl0.test', port: 5060, transport: 'udp' });
  assert.equal(dns.queries('ttl0.test', 'A'), 2, 'a record with TTL 0 is not cached');

  dns.set('nocache.test', 'A', ['192.0.2.112']);
  const uncached = resolver({ cacheTtlMs: 0 });
  await uncached.resolve({ host: 'nocache.test', port: 5060, transport: 'udp' });
  await uncached.resolve({ host: 'nocache.test', port: 5060, transport: 'udp' });
  assert.equal(dns.queries('nocache.test', 'A'), 2);

  const small = resolver({ cacheSize: 2 });
  for (const n of [1, 2, 3]) dns.set(`lru${n}.test`, 'A', [`192.0.2.12${n}`]);
  const ask = (n: number) => small.resolve({ host: `lru${n}.test`, port: 5060, transport: 'udp' });
  await ask(1);
  await ask(2);
  await ask(1); // lru1 is now the most recently used
  await ask(3); // evicts lru2
  await ask(1);
  assert.equal(dns.queries('lru1.test', 'A'), 1);
  await ask(2);
  assert.equal(dns.queries('lru2.test', 'A'), 2);
});

test('concurrent resolves of one target share one lookup', async () => {
  dns.set('together.test', 'A', ['192.0.2.130']);
  const r = resolver();
  const all = await Promise.all(Array.from({ length: 5 }, () => r.resolve({ host: 'together.test', port: 5060, transport: 'udp' })));
  for (const targets of all) assert.deepEqual(hops(targets), ['192.0.2.130:5060/udp/a']);
  assert.equal(dns.queries('together.test', 'A'), 1);
});

test('invalid input is refused before any lookup', async () => {
  const r = resolver();
  await assert.rejects(r.resolve({ host: 'x.test', port: 0, transport: 'udp' }), RangeError);
  await assert.rejects(r.resolve({ host: 'x.test', port: 70000, transport: 'udp' }), RangeError);
  await assert.rejects(r.resolve({ host: '', transport: 'udp' }), RangeError);
  assert.throws(() => new DnsSipResolver({ tries: 0 }), RangeError);
  assert.throws(() => new DnsSipResolver({ cacheSize: 0 }), RangeError);
});
