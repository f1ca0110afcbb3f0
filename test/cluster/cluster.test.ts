/**
 * Three nodes behind Kamailio, on one MariaDB database and one Redis, started as `npm run cluster`
 * starts them (deploy/cluster/localCluster.ts), with sipp phones registering and calling through
 * the front door: calls reach phones whose REGISTER another node took (their Path), a tenant's cap
 * holds across nodes, and a node killed with SIGKILL under steady calls costs only the calls it
 * was handling: Kamailio takes it out, new calls connect on the others, and a survivor ends its
 * calls and closes their records.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import { startLocalCluster, type LocalCluster } from '../../deploy/cluster/localCluster.ts';
import type { NodeView } from '../../contract/nodes.ts';
import { ApiClient, STRONG_PASSWORD } from '../helpers/api.ts';
import { authRow, newTenant, registerFrom, scenario, scratch, type Account, type Tenant } from '../calls/harness.ts';
import { createTestDatabase, skipUnless, type TestDatabase } from '../helpers/databases.ts';
import { freeUdpTcpPort, lastSippStats, skipWithout, startTool, exitOf, waitFor } from '../interop/tools.ts';
import { udpPortBound } from '../../bench/lib/proc.ts';

const skip = skipWithout('kamailio', 'kamailio') || skipWithout('redis-server', 'redis-server') || skipWithout('sipp', 'sip-tester') || skipUnless('mysql');

interface SippRun {
  stats: Record<string, string>;
  output: string;
}

/** One sipp running `calls` calls (`-m`), bounded in time and killed by PID; resolves with its final statistics. */
async function sipp(dir: string, name: string, args: string[], o: { port?: number; timeoutS: number }): Promise<{ port: number; done: Promise<SippRun> }> {
  const port = o.port ?? (await freeUdpTcpPort());
  const statFile = path.join(dir, `${name}.stat.csv`);
  const errorFile = path.join(dir, `${name}.err.log`);
  const tool = startTool(
    'sipp',
    [
      ...args,
      '-i',
      '127.0.0.1',
      '-p',
      String(port),
      '-t',
      'u1',
      '-nostdin',
      '-timeout',
      `${o.timeoutS}s`,
      '-trace_stat',
      '-stf',
      statFile,
      '-fd',
      '1',
      '-trace_err',
      '-error_file',
      errorFile,
    ],
    dir,
  );
  const done = exitOf(tool.child, (o.timeoutS + 5) * 1000, tool.output).then((f) => ({
    stats: lastSippStats(statFile),
    output: `${existsSync(errorFile) ? readFileSync(errorFile, 'latin1').slice(0, 3000) : ''}\n${f.output.slice(-800)}`,
  }));
  await waitFor(`sipp ${name} bound to ${port}`, 5000, async () => (udpPortBound(port) || tool.child.exitCode !== null ? true : undefined));
  return { port, done };
}

const OPERATOR = 'operator@example.com';

const count = (r: SippRun, field: string) => Number(r.stats[field] ?? 'NaN');

/** INVITEs a node has received so far (its Prometheus counter). */
async function invitesAt(httpUrl: string): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^sip_messages_received_total\{[^}]*kind="INVITE"[^}]*\} (\d+)/gm)) n += Number(m[1]);
  return n;
}

describe('three nodes behind Kamailio', { skip }, () => {
  let cluster: LocalCluster;
  let database: TestDatabase;
  let db: mysql.Connection;
  let tenant: Tenant;
  let alice: Account;
  let bob: Account;
  const work = scratch();
  const frontDoor = () => `127.0.0.1:${cluster.frontDoor.port}`;

  before(async () => {
    database = await createTestDatabase('mysql');
    const port = () => freeUdpTcpPort();
    cluster = await startLocalCluster({
      dir: path.join(work.dir, 'cluster'),
      databaseUrl: database.url,
      ports: {
        frontDoor: await port(),
        redis: await port(),
        nodes: [
          { sip: await port(), http: await port() },
          { sip: await port(), http: await port() },
          { sip: await port(), http: await port() },
        ],
      },
      env: {
        DIALPLAN_WORKERS: '1',
        LOG_LEVEL: 'info',
        NODE_HEARTBEAT_SECONDS: '1',
        NODE_DEAD_AFTER_SECONDS: '3',
        // Every call reaches the nodes from Kamailio's address: the per-source limits are not what these tests are about.
        STRANGER_CALLS_PER_SOURCE: '1000',
        SIP_INVITES_PER_MINUTE_PER_SOURCE: '1000000',
        STRANGER_CALLS_PER_TENANT: '2',
        CALLS_PER_TENANT: '100',
        CALLS_PER_MINUTE_PER_TENANT: '10000',
        DESTINATION_DENY: 'none',
        PROVIDER_PING_SECONDS: '3600',
        HTTP_SIGNUPS_PER_HOUR: '10000',
      },
    });
    db = await mysql.createConnection({ uri: database.url });
    tenant = await newTenant({ httpUrl: cluster.nodes[0]!.httpUrl } as never);
    alice = await tenant.account();
    bob = await tenant.account();
  });
  after(async () => {
    await db?.end();
    await cluster?.stop();
    await database?.drop();
    if (!process.env.KEEP_CLUSTER_TEST) work.remove();
  });

  /** Bob's phone: registers through the front door from a port of its own, then answers `calls` calls there. */
  async function bobAnswers(name: string, calls: number, timeoutS: number): Promise<{ port: number; done: Promise<SippRun> }> {
    const port = await freeUdpTcpPort();
    await registerFrom(work.dir, cluster.frontDoor.port, bob, port);
    const uas = await sipp(work.dir, name, ['-sf', scenario('uas_answer.xml'), '-m', String(calls), '-key', 'party', 'bob'], { port, timeoutS });
    return { port, done: uas.done };
  }

  test("calls reach a phone whose REGISTER another node took, through its Path; the binding has the phone's own address, as the front door says it", async () => {
    const callee = await bobAnswers('cross-uas', 8, 30);
    const [binding] = (await db.query('SELECT node_id, source_port, path FROM registrations WHERE account_id = ?', [bob.id]))[0] as Array<{
      node_id: string;
      source_port: number;
      path: string;
    }>;
    assert.equal(binding!.source_port, callee.port, 'the REGISTER came through Kamailio, from where X-Sipswitch-Source says');
    assert.match(binding!.path, new RegExp(`^\\["sip:127\\.0\\.0\\.1:${cluster.frontDoor.port};lr;received=`));
    const before = await Promise.all(cluster.nodes.map((n) => invitesAt(n.httpUrl)));
    const caller = await sipp(
      work.dir,
      'cross-uac',
      [
        frontDoor(),
        '-sf',
        scenario('uac_auth_call.xml'),
        '-s',
        bob.username,
        '-inf',
        infFile(work.dir, 'cross', alice),
        '-m',
        '8',
        '-r',
        '4',
        '-d',
        '200',
        '-key',
        'party',
        'alice',
      ],
      { timeoutS: 30 },
    );
    const [c, b] = await Promise.all([caller.done, callee.done]);
    assert.equal(count(c, 'SuccessfulCall(C)'), 8, c.output.slice(-1500));
    assert.equal(count(b, 'SuccessfulCall(C)'), 8);
    const handled = (await Promise.all(cluster.nodes.map((n) => invitesAt(n.httpUrl)))).map((n, i) => n - before[i]!);
    const others = cluster.nodes.filter((n, i) => n.id !== binding!.node_id && handled[i]! > 0);
    assert.ok(others.length >= 1, `calls handled by nodes other than ${binding!.node_id}, which holds the binding: ${JSON.stringify(handled)}`);
  });

  test("a tenant's cap holds when its calls arrive at different nodes", async () => {
    // Strangers may have 2 calls at once with this tenant's accounts; 5 at once arrive, spread by Call-ID.
    const callee = await bobAnswers('cap-uas', 2, 20);
    const before = await Promise.all(cluster.nodes.map((n) => invitesAt(n.httpUrl)));
    const caller = await sipp(
      work.dir,
      'cap-uac',
      [frontDoor(), '-sf', scenario('uac_call.xml'), '-s', bob.username, '-m', '5', '-r', '50', '-l', '5', '-d', '4000', '-key', 'party', 'stranger', '-key', 'caller', 'stranger'],
      {
        timeoutS: 20,
      },
    );
    const [c, b] = await Promise.all([caller.done, callee.done]);
    assert.equal(count(c, 'SuccessfulCall(C)'), 2, c.output.slice(-1500));
    assert.equal(count(c, 'FailedCall(C)'), 3);
    assert.equal(count(b, 'SuccessfulCall(C)'), 2);
    const handled = (await Promise.all(cluster.nodes.map((n) => invitesAt(n.httpUrl)))).map((n, i) => n - before[i]!);
    assert.ok(handled.filter((n) => n > 0).length >= 2, `the calls arrived at more than one node: ${JSON.stringify(handled)}`);
  });

  test('a node killed with SIGKILL under steady calls: only its calls fail, new calls connect, a survivor ends its calls and closes their records', async (t) => {
    const total = 48;
    const callee = await bobAnswers('kill-uas', total, 60);
    const caller = await sipp(
      work.dir,
      'kill-uac',
      [
        frontDoor(),
        '-sf',
        scenario('uac_auth_call.xml'),
        '-s',
        bob.username,
        '-inf',
        infFile(work.dir, 'kill', alice),
        '-m',
        String(total),
        '-r',
        '4',
        '-l',
        '40',
        '-d',
        '1500',
        '-key',
        'party',
        'alice',
      ],
      { timeoutS: 60 },
    );
    // A quarter of the way in, the node with the most calls under way dies.
    await waitFor('calls under way', 20_000, async () => ((await Promise.all(cluster.nodes.map((n) => invitesAt(n.httpUrl)))).reduce((a, n) => a + n, 0) > 40 ? true : undefined));
    const [byNode] = (await db.query('SELECT node_id, COUNT(*) AS n FROM live_calls GROUP BY node_id ORDER BY n DESC'))[0] as Array<{ node_id: string; n: number }>;
    const victim = cluster.nodes.find((n) => n.id === byNode?.node_id) ?? cluster.nodes[2]!;
    await victim.kill('SIGKILL');
    // What it left: the calls it had persisted when it died.
    const [[{ n: orphans }]] = (await db.query('SELECT COUNT(*) AS n FROM live_calls WHERE node_id = ?', [victim.id])) as unknown as [[{ n: number }]];
    await cluster.waitForDispatcher((f) => f[`127.0.0.1:${victim.sipPort}`]?.startsWith('I') === true, 15_000);
    const [c, b] = await Promise.all([caller.done, callee.done]);
    const failed = count(c, 'FailedCall(C)');
    assert.equal(count(c, 'SuccessfulCall(C)') + failed, total, c.output.slice(-1500));
    // At 4 calls/s held 1.5 s, a node has 2 or 3 calls of its own at once; a few more can be on their way to it.
    assert.ok(failed <= 8, `${failed} of ${total} calls failed (the killed node had ${orphans} under way)\n${c.output.slice(-1500)}`);
    assert.ok(count(b, 'SuccessfulCall(C)') >= total - 8);

    // A survivor claimed the dead node, ended its calls and closed their records.
    const claimed = await waitFor('the dead node taken over', 20_000, async () => {
      const [rows] = (await db.query('SELECT taken_over_by FROM nodes WHERE id = ?', [victim.id])) as unknown as [Array<{ taken_over_by: string | null }>];
      return rows[0]?.taken_over_by ?? undefined;
    });
    assert.notEqual(claimed, victim.id);
    const [[{ n: left }]] = (await db.query('SELECT COUNT(*) AS n FROM live_calls WHERE node_id = ?', [victim.id])) as unknown as [[{ n: number }]];
    assert.equal(Number(left), 0, 'no call of the dead node is left open');
    const [[{ n: closed }]] = (await db.query("SELECT COUNT(*) AS n FROM cdrs WHERE tenant_id = ? AND hangup_cause = 'switch-error'", [tenant.id])) as unknown as [[{ n: number }]];
    assert.ok(Number(orphans) >= 1, 'the killed node had calls under way');
    assert.equal(Number(closed), Number(orphans), 'each call the dead node left has its record, closed by the survivor');
    // Operators see it in the nodes list of any node (listed after signing up, as the README says).
    const survivor = cluster.nodes.find((n) => n !== victim)!;
    const operator = new ApiClient(survivor.httpUrl);
    assert.equal((await operator.post('/auth/signup', { email: OPERATOR, password: STRONG_PASSWORD })).status, 201);
    await survivor.kill('SIGTERM');
    await survivor.start({ OPERATOR_EMAILS: OPERATOR });
    const nodes = (await operator.get('/operator/nodes')).body as { items: NodeView[] };
    assert.deepEqual(
      nodes.items.map((n) => [n.id, n.state, n.takenOverBy]),
      cluster.nodes.map((n) => (n === victim ? [n.id, 'taken-over', claimed] : [n.id, 'up', null])),
    );
    t.diagnostic(`killed ${victim.id} with ${orphans} calls under way; ${failed} of ${total} calls failed; ${claimed} closed ${closed} records`);
  });
});

/** sipp's -inf file with an account's credentials. */
function infFile(dir: string, name: string, a: Account): string {
  const file = path.join(dir, `${name}.inf.csv`);
  writeFileSync(file, `SEQUENTIAL\n${authRow(a)}\n`);
  return file;
}
