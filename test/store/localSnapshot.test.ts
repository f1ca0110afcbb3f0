/**
 * The node's local snapshot of SIP accounts (server/store/localSnapshot.ts), on SQLite and MySQL:
 * sealed on disk (no username or digest readable, mode 0600), rewritten only when something
 * changed, readable by the next run of the node with the same key and by no other key. (Its use
 * during a database outage: test/outage/registerFromSnapshot.test.ts.)
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { CredentialCipher } from '../../server/providers/credentials.ts';
import { computeHa1 } from '../../server/sip/digest.ts';
import { newId } from '../../server/store/ids.ts';
import { Store } from '../../server/store/index.ts';
import { LocalSnapshot } from '../../server/store/localSnapshot.ts';
import { createTestDatabase, DIALECTS, skipUnless, type TestDatabase } from '../helpers/databases.ts';

const REALM = 'snapshot.test';

for (const dialect of DIALECTS) {
  describe(`local snapshot of SIP accounts [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    let db: TestDatabase;
    let store: Store;
    const cipher = new CredentialCipher(randomBytes(32));
    const open = () => Store.open(db.url, { cipher, localSnapshot: { dir: db.dir, nodeId: 'n1' } });
    before(async () => {
      db = await createTestDatabase(dialect);
      store = await open();
    });
    after(async () => {
      await store?.close();
      await db?.drop();
    });

    const account = async (tenantId: string, password: string) => {
      const username = `s${randomBytes(5).toString('hex')}`;
      return store.tenant(tenantId).sipAccounts.create({
        username,
        displayName: null,
        realm: REALM,
        ha1Md5: computeHa1('MD5', username, REALM, password),
        ha1Sha256: computeHa1('SHA-256', username, REALM, password),
        digestAlgorithms: ['SHA-256'],
        dialplanOut: 'out',
        dialplanIn: null,
      });
    };

    test('sealed on disk, rewritten only on change, read back whole by the next run with the same key', async () => {
      const t1 = (await store.directory.createTenantWithOwner(`a-${newId()}@x.test`, 'h')).tenantId;
      const t2 = (await store.directory.createTenantWithOwner(`b-${newId()}@x.test`, 'h')).tenantId;
      const a = await account(t1, 'first-password');
      const b = await account(t2, 'second-password');
      const snapshot = store.localSnapshot!;
      assert.equal(await snapshot.refresh(), 'written');

      const bytes = readFileSync(snapshot.file, 'utf8');
      for (const secret of [a.username, b.username, a.ha1Md5, a.ha1Sha256, b.ha1Md5, t1]) assert.ok(!bytes.includes(secret), `${secret} is not readable in the file`);
      assert.equal(statSync(snapshot.file).mode & 0o777, 0o600);
      assert.equal(await snapshot.refresh(), 'unchanged');
      assert.equal(readFileSync(snapshot.file, 'utf8'), bytes, 'not rewritten');

      // The next run of this node (a new Store, nothing cached) reads the same accounts back.
      const next = await open();
      try {
        assert.deepEqual(await next.localSnapshot!.account(a.username), a);
        assert.deepEqual(await next.localSnapshot!.account(b.username), b);
        assert.equal(await next.localSnapshot!.account('nobody'), undefined);
      } finally {
        await next.close();
      }

      // A disabled account and a new password are what the next snapshot holds.
      const changed = await store.tenant(t1).sipAccounts.update(a.id, { enabled: false, ha1Md5: computeHa1('MD5', a.username, REALM, 'new-password') });
      assert.equal(await snapshot.refresh(), 'written');
      assert.deepEqual(await snapshot.account(a.username), changed);
      assert.equal((await snapshot.account(a.username))!.enabled, false);
    });

    test('another key opens nothing: no account is served from the file', async () => {
      const t = (await store.directory.createTenantWithOwner(`c-${newId()}@x.test`, 'h')).tenantId;
      const a = await account(t, 'some-password');
      await store.localSnapshot!.refresh();
      const lines: string[] = [];
      const stranger = new LocalSnapshot({
        dir: db.dir,
        cipher: new CredentialCipher(randomBytes(32)),
        nodeId: 'n1',
        log: pino({ level: 'error' }, { write: (l: string) => void lines.push(l) }),
        read: async () => ({ sipAccounts: [] }),
      });
      assert.equal(await stranger.account(a.username), undefined);
      assert.match(lines.join(''), /does not open/);
    });
  });
}
