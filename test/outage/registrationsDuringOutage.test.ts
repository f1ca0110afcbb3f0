/**
 * The switch on a MariaDB of the test's own, which is stopped (SIGTERM) and later started again:
 * while it is down, and after every cached entry's TTL has run out (so only stale-if-error can
 * answer), a phone registered before re-REGISTERs and gets 200; a new phone of an account this node
 * knows registers with 200; a registered phone calls another registered phone through the cached
 * dialplan, which rings and connects. Once the database is back, the bindings made during the
 * outage are in the registrations table; a binding made during an outage in which the switch is
 * stopped is stored by its next start. (Load and call records: mariadbOutage.test.ts.)
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { assertSippOk, authRow, dialplanSource, newTenant, registerFrom, scenario, scratch, startSipp, type SippPeer } from '../calls/harness.ts';
import { TestPhone, type SipReply } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { freeUdpTcpPort, skipWithout, waitFor } from '../interop/tools.ts';
import { PrivateMariadb, skipWithoutMariadb } from './privateMariadb.ts';
import { elapse } from '../helpers/time.ts';

/** The caches' TTL (server/store/index.ts): waited out after the last read, so the outage cannot be hidden by fresh entries. */
const CACHE_TTL_MS = 5000;

const skip = skipWithoutMariadb() || skipWithout('sipp', 'sip-tester');

/** The Contact URIs a REGISTER's 200 lists. */
function contactsOf(r: SipReply): string[] {
  return (r.headers.get('contact') ?? []).flatMap((h) => [...h.matchAll(/<([^>]+)>/g)].map((m) => m[1]!));
}

describe('registrations and calls while the database is down [mysql, private MariaDB]', { skip }, () => {
  let db: PrivateMariadb | undefined;
  let sw: TestSwitch | undefined;
  const phones: TestPhone[] = [];
  const peers: SippPeer[] = [];
  const work = scratch();
  after(async () => {
    for (const p of peers) p.kill();
    for (const p of phones) p.close();
    await sw?.close();
    await db?.destroy();
    work.remove();
  });

  test('REGISTERs answered 200 from what the node knows, a cached call connects, the bindings are written afterwards', { timeout: 180_000 }, async () => {
    db = await PrivateMariadb.create();
    await db.query('', 'CREATE DATABASE outage CHARACTER SET utf8mb4');
    sw = await startTestSwitch('sqlite', { env: { DATABASE_URL: db.url('outage') } });
    const s = sw;
    const metric = async (name: string, labels: Record<string, string> = {}) => {
      const m = (await s.running.metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
      return (m?.values ?? []).filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want)).reduce((sum, v) => sum + Number(v.value), 0);
    };

    const tenant = await newTenant(s);
    await tenant.dialplan('default', dialplanSource(`  const r = await dial(call.to.user, { timeout: 10 });\n  log('dialled ' + r.result);`));
    const alice = await tenant.account();
    const bob = await tenant.account();
    const carol = await tenant.account();

    // Before: every phone registers; one call warms the dialplan and settings caches.
    const alicePort = await freeUdpTcpPort();
    const bobPort = await freeUdpTcpPort();
    await registerFrom(work.dir, s.sipPort, alice, alicePort);
    await registerFrom(work.dir, s.sipPort, bob, bobPort);
    const desk = await TestPhone.open('udp', s.sipPort);
    phones.push(desk);
    assert.equal((await desk.register({ user: carol.username, password: carol.password, expires: 300 })).final.status, 200);

    const call = async (name: string) => {
      const callee = await startSipp({ dir: work.dir, name: `bob-${name}`, scenario: scenario('uas_answer.xml'), port: bobPort, keys: { party: 'bob' } });
      peers.push(callee);
      const caller = await startSipp({
        dir: work.dir,
        name: `alice-${name}`,
        scenario: scenario('uac_auth_call.xml'),
        remote: `127.0.0.1:${s.sipPort}`,
        port: alicePort,
        service: bob.username,
        inf: [authRow(alice)],
        keys: { party: 'alice' },
        pauseMs: 500,
      });
      peers.push(caller);
      const [c, b] = await Promise.all([caller.done, callee.done]);
      assertSippOk({ [`caller (${name})`]: c, [`callee (${name})`]: b });
    };
    await call('before');
    const lastWarmRead = Date.now();

    // The outage: MariaDB stopped; then every cache entry's TTL is waited out.
    await db.stop();
    const outageStart = Date.now();
    await assert.rejects(db.query('outage', 'SELECT 1'), 'the database is really down');
    await elapse(lastWarmRead + CACHE_TTL_MS + 1000 - Date.now());
    const staleBefore = await metric('store_cache_lookups_total', { result: 'stale' });

    // A phone registered before re-REGISTERs (a refresh of its binding): 200, its contact listed.
    const refresh = await desk.register({ user: carol.username, password: carol.password, expires: 600 });
    assert.equal(refresh.final.status, 200, `refresh during the outage: ${refresh.final.raw}`);
    const deskContact = `sip:${carol.username}@127.0.0.1:${desk.localPort};transport=udp`;
    assert.deepEqual(contactsOf(refresh.final), [deskContact]);

    // A new phone of the same account (known to this node's cache): 200, both contacts listed.
    const mobile = await TestPhone.open('udp', s.sipPort);
    phones.push(mobile);
    const added = await mobile.register({ user: carol.username, password: carol.password, expires: 300 });
    assert.equal(added.final.status, 200, `new phone during the outage: ${added.final.raw}`);
    const mobileContact = `sip:${carol.username}@127.0.0.1:${mobile.localPort};transport=udp`;
    assert.deepEqual(contactsOf(added.final).sort(), [deskContact, mobileContact].sort());

    // A registered phone calls another one through the cached dialplan: it rings and connects.
    await call('during');
    assert.ok((await metric('store_cache_lookups_total', { result: 'stale' })) > staleBefore, 'stale values were served');
    assert.equal(await metric('location_writes_pending'), 2, 'the two REGISTERs wait in memory');
    await assert.rejects(db.query('outage', 'SELECT 1'), 'the database was down throughout');

    // The database returns: what was registered meanwhile is written.
    await db.start();
    const outageEnd = Date.now();
    type Row = { contact_uri: string; cseq: number; expires_at: number; updated_at: number; node_id: string };
    const rows = await waitFor('the bindings made during the outage to be stored', 30_000, async () => {
      const r = (await db!.query('outage', 'SELECT contact_uri, cseq, expires_at, updated_at, node_id FROM registrations WHERE account_id = ? ORDER BY created_at', [
        carol.id,
      ])) as Row[];
      return r.length === 2 && r.every((b) => Number(b.updated_at) >= outageStart) ? r : undefined;
    });
    // (The pending-changes gauge is set when a round of writes ends, just after the rows are committed.)
    const byContact = new Map(rows.map((r) => [r.contact_uri, r]));
    const desked = byContact.get(deskContact)!;
    assert.ok(desked, `the refreshed binding is stored: ${JSON.stringify(rows)}`);
    assert.ok(Number(desked.updated_at) < outageEnd);
    assert.ok(Number(desked.expires_at) - Number(desked.updated_at) >= 599_000, 'with the 600 s asked for during the outage');
    assert.ok(byContact.get(mobileContact), `the new phone's binding is stored: ${JSON.stringify(rows)}`);
    await waitFor('no registration change pending', 5000, async () => ((await metric('location_writes_pending')) === 0 ? true : undefined));

    // And the switch works on the database as before: a REGISTER stored at once.
    const after = await mobile.register({ user: carol.username, password: carol.password, expires: 0 });
    assert.equal(after.final.status, 200);
    const left = (await db.query('outage', 'SELECT contact_uri FROM registrations WHERE account_id = ?', [carol.id])) as Array<{ contact_uri: string }>;
    assert.deepEqual(
      left.map((r) => r.contact_uri),
      [deskContact],
    );

    // A second outage, and the switch is stopped during it: the REGISTER it answered meanwhile is
    // in its journal on disk, and its next start (the database back by then) stores it.
    await db.stop();
    const beforeStop = await mobile.register({ user: carol.username, password: carol.password, expires: 300 });
    assert.equal(beforeStop.final.status, 200, `REGISTER during the second outage: ${beforeStop.final.raw}`);
    assert.equal(await metric('location_writes_pending'), 1);
    await s.restart(undefined, () => db!.start());
    const restored = await waitFor('the binding answered before the restart to be stored', 30_000, async () => {
      const r = (await db!.query('outage', 'SELECT contact_uri FROM registrations WHERE account_id = ?', [carol.id])) as Array<{ contact_uri: string }>;
      return r.some((b) => b.contact_uri === mobileContact) ? r : undefined;
    });
    assert.deepEqual(restored.map((r) => r.contact_uri).sort(), [deskContact, mobileContact].sort());
    await waitFor('no registration change pending', 5000, async () => ((await metric('location_writes_pending')) === 0 ? true : undefined));
  });
});
