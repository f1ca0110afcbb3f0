import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectionAdmission, type Release } from '../../server/sip/connectionAdmission.ts';

test('per source, in all, and banned addresses; a release frees the place once', () => {
  const banned = new Set(['10.0.0.66']);
  const a = new ConnectionAdmission({ perSource: 2, total: 4 }, (x) => !banned.has(x));
  const first = a.inbound('10.0.0.1') as Release;
  assert.equal(typeof first, 'function');
  assert.equal(typeof a.inbound('10.0.0.1'), 'function');
  assert.equal(a.inbound('10.0.0.1'), 'source-limit');
  assert.equal(a.inbound('10.0.0.66'), 'banned-source');
  assert.equal(typeof a.inbound('10.0.0.2'), 'function');
  assert.equal(typeof a.outbound(), 'function', 'ours count toward the total only');
  assert.equal(a.inbound('10.0.0.3'), 'limit');
  assert.equal(a.outbound(), 'limit');
  first();
  first();
  assert.equal(a.size, 3, 'released once');
  assert.equal(typeof a.inbound('10.0.0.1'), 'function');
});
