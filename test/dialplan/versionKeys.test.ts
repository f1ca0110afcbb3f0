import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VersionKeys } from '../../server/dialplan/versionKeys.ts';

const source = 'export default async function () {}';

describe('version keys', () => {
  it('name a version by its name, number and source, and are remembered only for that source', () => {
    const keys = new VersionKeys();
    const v1 = keys.keyOf('t-a', { name: 'default', version: 1, source });
    assert.equal(keys.keyOf('t-a', { name: 'default', version: 1, source: `${source}` }), v1, 'the same version again');
    assert.notEqual(keys.keyOf('t-a', { name: 'default', version: 2, source }), v1, 'a new version with the same source');
    assert.notEqual(keys.keyOf('t-a', { name: 'night', version: 1, source }), v1, 'another dialplan with the same source');
    // A test run is version 0 with whatever is being edited: a remembered key never stands for another source.
    const draft = keys.keyOf('t-a', { name: 'simulation', version: 0, source });
    assert.notEqual(keys.keyOf('t-a', { name: 'simulation', version: 0, source: `${source}\n// edited` }), draft);
    assert.equal(keys.keyOf('t-a', { name: 'simulation', version: 0, source }), draft);
  });

  it('forget the oldest sources past their size, and still give the same keys', () => {
    const keys = new VersionKeys();
    const big = (n: number) => `${source}\n// ${String(n).repeat(4 * 1024 * 1024)}`;
    const first = keys.keyOf('t-a', { name: 'default', version: 1, source: big(1) });
    for (let n = 2; n <= 6; n++) keys.keyOf('t-a', { name: 'default', version: n, source: big(n) });
    assert.equal(keys.keyOf('t-a', { name: 'default', version: 1, source: big(1) }), first);
  });
});
