/**
 * sipp registers to the switch with the Kamailio reference benchmark's scenario (a copy of
 * ../shared/anchors/kamailio/reg_auth.xml in test/fixtures/sipp), so the benchmark measures a
 * path this test shows to work. Also pins down the interop fact that sipp 3.6 answers only the
 * first challenge and cannot use SHA-256.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { createSipAccount, signUp, type ApiClient } from '../helpers/api.ts';
import { DIALECTS, skipUnless } from '../helpers/databases.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { lastSippStats, runTool, skipWithout } from './tools.ts';

const SCENARIO = fileURLToPath(new URL('../fixtures/sipp/reg_auth.xml', import.meta.url));
const noSipp = skipWithout('sipp', 'sip-tester');

interface Account {
  id: string;
  username: string;
  password: string;
}

interface Binding {
  username: string;
  contact: string;
  source: { address: string; port: number; transport: string };
  userAgent: string | null;
  digestAlgorithm: string;
  expiresIn: number;
}

for (const dialect of DIALECTS) {
  describe(`sipp registers with reg_auth.xml (${dialect})`, { skip: skipUnless(dialect) || noSipp, timeout: 120_000 }, () => {
    let sw: TestSwitch;
    let api: ApiClient;
    let dir: string;
    let runs = 0;
    const logLines: string[] = [];

    before(async () => {
      sw = await startTestSwitch(dialect, { logLines });
      api = await signUp(sw.httpUrl);
      dir = mkdtempSync(path.join(tmpdir(), 'sipswitch-sipp-'));
    });
    after(async () => {
      await sw?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    /** One bounded sipp run with the benchmark's flags; `calls` registrations cycle through `accounts`. */
    const sipp = (accounts: Account[], calls: number, transport: 'u1' | 't1' = 'u1') => sippAt(accounts, calls, 20, transport);

    async function sippAt(accounts: Account[], calls: number, rate: number, transport: 'u1' | 't1' = 'u1') {
      const tag = `run${++runs}`;
      // The anchor's users.csv format: the third field is a ready-made keyword because sipp 3.6
      // cannot nest [fieldN] inside [authentication].
      const csv = path.join(dir, `${tag}.users.csv`);
      writeFileSync(csv, ['SEQUENTIAL', ...accounts.map((a) => `${a.username};${a.password};[authentication username=${a.username} password=${a.password}]`)].join('\n') + '\n');
      const stf = path.join(dir, `${tag}.stat.csv`);
      const errors = path.join(dir, `${tag}.errors.log`);
      const done = await runTool(
        'sipp',
        [
          `127.0.0.1:${sw.sipPort}`,
          '-sf',
          SCENARIO,
          '-inf',
          csv,
          '-i',
          '127.0.0.1',
          '-t',
          transport,
          '-r',
          String(rate),
          '-m',
          String(calls),
          '-d',
          '0',
          '-timeout',
          '20s',
          '-nostdin',
          '-buff_size',
          '4194304',
          '-max_recv_loops',
          '10000',
          '-trace_stat',
          '-fd',
          '1',
          '-stf',
          stf,
          '-trace_err',
          '-error_file',
          errors,
        ],
        dir,
        30_000,
      );
      return {
        ...done,
        stats: existsSync(stf) ? lastSippStats(stf) : {},
        errors: existsSync(errors) ? readFileSync(errors, 'latin1') : '',
      };
    }

    async function bindings(): Promise<Binding[]> {
      const r = await api.get<{ items: Binding[] }>('/registrations');
      assert.equal(r.status, 200);
      return r.body.items;
    }

    test('registers several API-created accounts over UDP, each twice, with MD5', async () => {
      const accounts: Account[] = [];
      for (let i = 0; i < 4; i++) accounts.push(await createSipAccount(api));
      const run = await sipp(accounts, 8);
      assert.equal(run.code, 0, `sipp exit ${run.code}/${run.signal}\n${run.errors}\n${run.output.slice(-2000)}`);
      assert.equal(run.stats['SuccessfulCall(C)'], '8');
      assert.equal(run.stats['FailedCall(C)'], '0');

      const mine = (await bindings()).filter((b) => accounts.some((a) => a.username === b.username));
      // A refresh from the same contact updates its binding instead of adding one.
      assert.equal(mine.length, 4);
      for (const a of accounts) {
        const b = mine.find((x) => x.username === a.username);
        assert.ok(b, `no binding for ${a.username}`);
        assert.equal(b.contact, `sip:${a.username}@127.0.0.1:5090`);
        assert.equal(b.digestAlgorithm, 'MD5');
        assert.equal(b.source.address, '127.0.0.1');
        assert.equal(b.source.transport, 'udp');
        assert.ok(b.expiresIn > 3500 && b.expiresIn <= 3600, `expiresIn ${b.expiresIn}`);
      }
    });

    test("registers over TCP; the bindings go with sipp's connection", async () => {
      const accounts = [await createSipAccount(api), await createSipAccount(api)];
      const run = await sipp(accounts, 4, 't1');
      assert.equal(run.code, 0, `sipp exit ${run.code}/${run.signal}\n${run.errors}\n${run.output.slice(-2000)}`);
      assert.equal(run.stats['SuccessfulCall(C)'], '4');
      assert.equal(run.stats['FailedCall(C)'], '0');
      // sipp has exited, so its connection is closed: a binding over it cannot be reached any more and goes.
      const deadline = Date.now() + 5000;
      while ((await bindings()).some((b) => accounts.some((a) => a.username === b.username))) {
        assert.ok(Date.now() < deadline, 'the TCP bindings went with their connection');
        await new Promise((r) => setTimeout(r, 50));
      }
      const removals = logLines.filter((l) => l.includes('registration removed: its connection closed')).map((l) => JSON.parse(l) as { transport: string; accountId: string });
      for (const a of accounts)
        assert.ok(
          removals.some((r) => r.accountId === a.id && r.transport === 'tcp'),
          `${a.username} was bound over TCP`,
        );
    });

    test('a burst of first registrations from many accounts all succeed', async () => {
      const accounts = await Promise.all(Array.from({ length: 30 }, () => createSipAccount(api)));
      const run = await sippAt(accounts, 30, 300);
      assert.equal(run.stats['FailedCall(C)'], '0', `${run.errors.slice(0, 1500)}`);
      assert.equal(run.stats['SuccessfulCall(C)'], '30');
      assert.equal(run.code, 0);
    });

    test('an account offering SHA-256 first defeats sipp; MD5 first, then SHA-256, works', async () => {
      const account = await createSipAccount(api, { digestAlgorithms: ['SHA-256', 'MD5'] });
      const failed = await sipp([account], 1);
      // sipp treats the unusable first challenge as fatal: exit -1, no call counted as failed.
      assert.equal(failed.code, 255, `sipp exit ${failed.code}/${failed.signal}\n${failed.output.slice(-2000)}`);
      assert.match(failed.errors + failed.output, /authentication must use MD5/);
      assert.equal(
        (await bindings()).find((b) => b.username === account.username),
        undefined,
      );

      const patched = await api.patch(`/sip-accounts/${account.id}`, { digestAlgorithms: ['MD5', 'SHA-256'] });
      assert.equal(patched.status, 200);
      assert.deepEqual(patched.body.effectiveDigestAlgorithms, ['MD5', 'SHA-256']);
      const ok = await sipp([account], 1);
      assert.equal(ok.code, 0, `sipp exit ${ok.code}/${ok.signal}\n${ok.errors}\n${ok.output.slice(-2000)}`);
      assert.equal(ok.stats['SuccessfulCall(C)'], '1');
      const b = (await bindings()).find((x) => x.username === account.username);
      assert.equal(b?.digestAlgorithm, 'MD5');
    });
  });
}
