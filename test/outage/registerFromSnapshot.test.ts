/**
 * REGISTER during a database outage from phones this node has never seen: the switch runs on a
 * MariaDB of the test's own, is restarted (so its cache is empty, as after any restart or for
 * phones that register at another node), then MariaDB is stopped. A phone of an account in the
 * node's local snapshot registers (200), its binding is journalled on disk and written once the
 * database is back; a disabled account in the snapshot is refused (403), as with the database;
 * an account the node holds no copy of gets 503 with Retry-After, never 500.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { newTenant } from '../calls/harness.ts';
import { uniqueUsername } from '../helpers/api.ts';
import { TestPhone, type SipReply } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { waitFor } from '../interop/tools.ts';
import { PrivateMariadb, skipWithoutMariadb } from './privateMariadb.ts';

const skip = skipWithoutMariadb();

const contactsOf = (r: SipReply) => (r.headers.get('contact') ?? []).flatMap((h) => [...h.matchAll(/<([^>]+)>/g)].map((m) => m[1]!));

describe('REGISTER during a database outage for accounts this node has not cached [mysql, private MariaDB]', { skip }, () => {
  let db: PrivateMariadb | undefined;
  let sw: TestSwitch | undefined;
  const phones: TestPhone[] = [];
  after(async () => {
    for (const p of phones) p.close();
    await sw?.close();
    await db?.destroy();
  });

  test('an account in the local snapshot registers and its binding is written later; one the node cannot verify gets 503 with Retry-After', { timeout: 180_000 }, async () => {
    db = await PrivateMariadb.create();
    await db.query('', 'CREATE DATABASE outage CHARACTER SET utf8mb4');
    sw = await startTestSwitch('sqlite', { env: { DATABASE_URL: db.url('outage') } });
    const s = sw;
    const metric = async (name: string, labels: Record<string, string> = {}) => {
      const m = (await s.running.metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
      return (m?.values ?? []).filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)).reduce((sum, v) => sum + Number(v.value), 0);
    };

    const tenant = await newTenant(s);
    const alice = await tenant.account();
    const banned = await tenant.account();
    assert.equal((await tenant.api.patch(`/sip-accounts/${banned.id}`, { enabled: false })).status, 200);

    // A restart: nothing of these accounts is in the node's memory. The snapshot is refreshed at start.
    await s.restart();
    await waitFor('the local snapshot to hold both accounts', 20_000, async () => ((await metric('local_snapshot_accounts')) >= 2 ? true : undefined));

    await db.stop();
    await assert.rejects(db.query('outage', 'SELECT 1'), 'the database is really down');
    const responses500Before = await metric('sip_responses_sent_total', { status: '500' });

    // A phone of an account the node knows only from its snapshot: 200, its contact listed.
    const desk = await TestPhone.open('udp', s.sipPort);
    phones.push(desk);
    const registered = await desk.register({ user: alice.username, password: alice.password, expires: 300 });
    assert.equal(registered.challenge.status, 401, `challenged first: ${registered.challenge.raw}`);
    assert.equal(registered.final.status, 200, `REGISTER during the outage: ${registered.final.raw}`);
    const deskContact = `sip:${alice.username}@127.0.0.1:${desk.localPort};transport=udp`;
    assert.deepEqual(contactsOf(registered.final), [deskContact]);
    assert.equal(await metric('location_writes_pending'), 1, 'the binding waits for the database');
    const journal = readFileSync(path.join(s.db.dir, 'spool', 'registrations.jsonl'), 'utf8');
    assert.ok(journal.includes(deskContact), `the binding is journalled on disk: ${journal}`);

    // The snapshot is no password: a wrong one is refused as ever.
    const thief = await TestPhone.open('udp', s.sipPort);
    phones.push(thief);
    assert.equal((await thief.register({ user: alice.username, password: 'not-the-password', expires: 300 })).final.status, 403);
    // A disabled account in the snapshot is refused, not let in.
    assert.equal((await thief.register({ user: banned.username, password: banned.password, expires: 300 })).final.status, 403);

    // An account this node holds no copy of: 503 with Retry-After, challenged or not.
    const unknown = uniqueUsername('new');
    const refused = await thief.register({ user: unknown, password: 'Whatever-Its-Password-9', expires: 300 });
    assert.equal(refused.final.status, 503, `cannot verify: ${refused.final.raw}`);
    const retryAfter = Number(refused.final.headers.get('retry-after')?.[0]);
    assert.ok(retryAfter >= 20 && retryAfter <= 40, `Retry-After: ${refused.final.raw}`);
    assert.equal(await metric('sip_responses_sent_total', { status: '500' }), responses500Before, 'no 500 during the outage');
    await assert.rejects(db.query('outage', 'SELECT 1'), 'the database was down throughout');

    // The database returns: the binding made meanwhile is written.
    await db.start();
    const rows = await waitFor('the binding made during the outage to be stored', 30_000, async () => {
      const r = (await db!.query('outage', 'SELECT contact_uri FROM registrations WHERE account_id = ?', [alice.id])) as Array<{ contact_uri: string }>;
      return r.length ? r : undefined;
    });
    assert.deepEqual(
      rows.map((r) => r.contact_uri),
      [deskContact],
    );
    await waitFor('no registration change pending', 10_000, async () => ((await metric('location_writes_pending')) === 0 ? true : undefined));
  });
});
