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
  const sizes = [(g as any).pairs.size, (g as any).usersByIp.size];
  assert.ok(sizes.every((s) => s <= 100), `sizes ${sizes}`);
});
