import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AuthGuard, DEFAULT_AUTH_GUARD } from '../../server/sip/authGuard.ts';

test('ten failures for one user from one address block that pair for 30 minutes, not others', () => {
  const g = new AuthGuard();
  const t = 1_000_000;
  for (let i = 0; i < 9; i++) assert.equal(g.recordFailure('alice', '10.0.0.1', t + i), 'none');
  assert.equal(g.isPairBlocked('alice', '10.0.0.1', t + 10), false);
  assert.equal(g.recordFailure('alice', '10.0.0.1', t + 10), 'pair-blocked');
  assert.ok(g.isPairBlocked('alice', '10.0.0.1', t + 20));
  assert.equal(g.isPairBlocked('alice', '10.0.0.2', t + 20), false);
  assert.equal(g.isPairBlocked('bob', '10.0.0.1', t + 20), false);
  assert.equal(g.isPairBlocked('alice', '10.0.0.1', t + 10 + DEFAULT_AUTH_GUARD.pairBlockMs + 1), false);
});

test('failures spread over more than the window do not block', () => {
  const g = new AuthGuard();
  for (let i = 0; i < 20; i++) g.recordFailure('alice', '10.0.0.1', i * 70_000);
  assert.equal(g.isPairBlocked('alice', '10.0.0.1', 20 * 70_000), false);
});

test('five usernames failing from one address within a minute ban the address for an hour', () => {
  const g = new AuthGuard();
  const t = 5_000_000;
  for (const [i, u] of ['a', 'b', 'c', 'd'].entries()) assert.equal(g.recordFailure(u, '10.0.0.9', t + i * 1000), 'none');
  assert.equal(g.recordFailure('e', '10.0.0.9', t + 5000), 'ip-banned');
  assert.ok(g.isIpBanned('10.0.0.9', t + 6000));
  assert.equal(g.isIpBanned('10.0.0.8', t + 6000), false);
  assert.equal(g.isIpBanned('10.0.0.9', t + 5000 + DEFAULT_AUTH_GUARD.ipBanMs + 1), false);
});

test('success clears the pair counter', () => {
  const g = new AuthGuard();
  for (let i = 0; i < 9; i++) g.recordFailure('alice', '10.0.0.1', i);
  g.recordSuccess('alice', '10.0.0.1');
  assert.equal(g.recordFailure('alice', '10.0.0.1', 10), 'none');
});

test('memory stays bounded under a flood of sources', () => {
  const g = new AuthGuard({ ...DEFAULT_AUTH_GUARD, maxTracked: 100 });
  for (let i = 0; i < 10_000; i++) g.recordFailure(`u${i}`, `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, i);
  // Its private tables: nothing public says how much it tracks.
  const tables = g as unknown as { pairs: Map<string, unknown>; usersByIp: Map<string, unknown> };
  const sizes = [tables.pairs.size, tables.usersByIp.size];
  assert.ok(
    sizes.every((s) => s <= 100),
    `sizes ${sizes}`,
  );
});

test('each block is kept with its reason, the usernames behind it, and its expiry; lifting ends it', () => {
  const g = new AuthGuard();
  const t = 9_000_000;
  for (const [i, u] of ['a', 'b', 'c', 'd', 'e'].entries()) g.recordFailure(u, '10.0.0.9', t + i);
  for (let i = 0; i < 10; i++) g.recordFailure('alice', '10.0.0.1', t + i);
  const [pair, address] = g.bans(t + 100);
  assert.ok(pair && address);
  assert.deepEqual(
    { kind: address.kind, address: address.address, usernames: address.usernames, since: address.since, until: address.until },
    { kind: 'address', address: '10.0.0.9', usernames: ['a', 'b', 'c', 'd', 'e'], since: t + 4, until: t + 4 + DEFAULT_AUTH_GUARD.ipBanMs },
  );
  assert.match(address.reason, /^5 usernames failed authentication from this address within 1 min$/);
  assert.deepEqual(
    { kind: pair.kind, address: pair.address, username: pair.username, until: pair.until },
    { kind: 'account', address: '10.0.0.1', username: 'alice', until: t + 9 + DEFAULT_AUTH_GUARD.pairBlockMs },
  );
  assert.match(pair.reason, /^10 failed authentications for this account from this address within 10 min$/);
  assert.notEqual(pair.id, address.id);

  assert.equal(g.lift(address.id, t + 200)?.address, '10.0.0.9');
  assert.equal(g.isIpBanned('10.0.0.9', t + 300), false);
  assert.equal(g.lift(address.id, t + 300), undefined, 'once');
  assert.equal(g.lift(pair.id, t + 300)?.username, 'alice');
  assert.equal(g.isPairBlocked('alice', '10.0.0.1', t + 300), false);
  assert.deepEqual(g.bans(t + 300), []);
  // A lifted pair starts counting afresh.
  assert.equal(g.recordFailure('alice', '10.0.0.1', t + 400), 'none');
});

test('expired blocks are not listed', () => {
  const g = new AuthGuard();
  for (let i = 0; i < 10; i++) g.recordFailure('alice', '10.0.0.1', i);
  assert.equal(g.bans(10).length, 1);
  assert.equal(g.bans(10 + DEFAULT_AUTH_GUARD.pairBlockMs).length, 0);
});

test("an exempt address (a provider's) is never banned, but its (user, address) pairs are blocked", () => {
  const exempt = new Set(['10.0.0.5']);
  const g = new AuthGuard(DEFAULT_AUTH_GUARD, (ip) => exempt.has(ip));
  for (const u of ['a', 'b', 'c', 'd']) g.recordFailure(u, '10.0.0.5', 1);
  assert.equal(g.recordFailure('e', '10.0.0.5', 2), 'ban-exempt');
  assert.equal(g.isIpBanned('10.0.0.5', 3), false);
  for (let i = 0; i < 10; i++) g.recordFailure('alice', '10.0.0.5', 10 + i);
  assert.ok(g.isPairBlocked('alice', '10.0.0.5', 20));

  // An address banned before it became a provider's is let through from then on.
  for (const u of ['a', 'b', 'c', 'd', 'e']) g.recordFailure(u, '10.0.0.6', 30);
  assert.ok(g.isIpBanned('10.0.0.6', 31));
  exempt.add('10.0.0.6');
  assert.equal(g.isIpBanned('10.0.0.6', 32), false);
});
