/**
 * The nodes table (server/store/nodes.ts): a node starting clears what its previous run left, a
 * clean stop is never taken for death, and of several survivors claiming a silent node at once
 * exactly one gets it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Store } from '../../server/store/index.ts';
import { createTestDatabase, DIALECTS, skipUnless, type TestDatabase } from '../helpers/databases.ts';

for (const dialect of DIALECTS) {
  describe(`nodes table [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    let tdb: TestDatabase;
    let store: Store;
    before(async () => {
      tdb = await createTestDatabase(dialect);
      store = await Store.open(tdb.url);
    });
    after(async () => {
      await store?.close();
      await tdb?.drop();
    });
    const node = (id: string) => ({ id, sipAddress: `10.0.0.1:${id.length}`, httpUrl: 'http://10.0.0.1:8080' });

    test('a silent node is dead for exactly one of the survivors claiming it; a node stopped cleanly never is', async () => {
      await store.nodes.started(node('a'), 1000);
      await store.nodes.started(node('b'), 1000);
      await store.nodes.started(node('c'), 1000);
      await store.nodes.stopped('c', 1500);
      await store.nodes.heartbeat('b', 5000);
      assert.deepEqual(
        (await store.nodes.dead(3000)).map((n) => n.id),
        ['a'],
      );
      const claims = await Promise.all(['b', 'x', 'y', 'z'].map((survivor) => store.nodes.claim('a', survivor, 3000, 6000)));
      assert.equal(claims.filter(Boolean).length, 1);
      assert.deepEqual(await store.nodes.dead(3000), [], 'claimed: nobody else takes it over');
      const a = (await store.nodes.list()).find((n) => n.id === 'a')!;
      assert.equal(a.takenOverBy, ['b', 'x', 'y', 'z'][claims.indexOf(true)]);
      assert.equal(await store.nodes.claim('b', 'a', 3000), false, 'a node beating is not claimed');
    });

    test('a node starting again is up and unclaimed, with its new addresses', async () => {
      await store.nodes.started({ ...node('a'), sipAddress: '10.0.0.9:5060' }, 9000);
      const a = (await store.nodes.list()).find((n) => n.id === 'a')!;
      assert.deepEqual([a.sipAddress, a.startedAt, a.heartbeatAt, a.stoppedAt, a.takenOverBy], ['10.0.0.9:5060', 9000, 9000, null, null]);
    });
  });
}
