/**
 * The nodes table (server/store/nodes.ts): a node starting clears what its previous run left, a
 * clean stop is never taken for death, and of several survivors claiming a silent node at once
 * exactly one gets it; what each node holds (calls in progress, unexpired registrations) is
 * counted per node for the operators' page.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { computeHa1 } from '../../server/sip/digest.ts';
import { newId } from '../../server/store/ids.ts';
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

    test('what each node holds: its calls in progress and its unexpired registrations', async () => {
      const { tenantId } = await store.directory.createTenantWithOwner(`held-${newId()}@x.test`, 'h');
      const username = `h${newId().slice(-12).replace(/-/g, '')}`;
      const account = await store.tenant(tenantId).sipAccounts.create({
        username,
        displayName: null,
        realm: 'r',
        ha1Md5: computeHa1('MD5', username, 'r', 'pw'),
        ha1Sha256: computeHa1('SHA-256', username, 'r', 'pw'),
        digestAlgorithms: null,
      });
      const call = (callId: string, nodeId: string) => ({ callId, tenantId, nodeId, state: {}, updatedAt: 1000 });
      await store.liveCalls.write([call('c1', 'held-a'), call('c2', 'held-a'), call('c3', 'held-b')], []);
      const binding = (id: string, nodeId: string, expiresAt: number) => ({
        id,
        tenant_id: tenantId,
        account_id: account.id,
        contact_hash: id,
        contact_uri: `sip:${id}@10.0.0.9`,
        call_id: id,
        cseq: 1,
        expires_at: expiresAt,
        source_ip: '10.0.0.9',
        source_port: 5060,
        transport: 'udp',
        user_agent: null,
        algorithm: 'MD5',
        node_id: nodeId,
        path: null,
        created_at: 1000,
        updated_at: 1000,
      });
      await store.kysely
        .insertInto('registrations')
        .values([binding('r1', 'held-b', 9000), binding('r2', 'held-b', 9000), binding('r3', 'held-c', 9000), binding('r4', 'held-a', 4000)])
        .execute();
      const held = await store.nodes.held(5000);
      assert.deepEqual(
        ['held-a', 'held-b', 'held-c', 'held-d'].map((id) => held.get(id) ?? null),
        [{ calls: 2, registrations: 0 }, { calls: 1, registrations: 2 }, { calls: 0, registrations: 1 }, null],
        'an expired registration is not held; a node holding nothing is absent',
      );
    });

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
