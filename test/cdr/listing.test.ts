/** Listing, filters, CSV export, purge and tenant isolation of call records, over real HTTP. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { v7 } from 'uuid';
import { startCdrRetention } from '../../server/cdr/retention.ts';
import { createLogger } from '../../server/observability/log.ts';
import type { Cdr } from '../../server/domain/cdr.ts';
import { ApiClient, signUp, type ApiResponse } from '../helpers/api.ts';
import type { CdrPage } from '../../web/src/api/types.ts';
import { DIALECTS, skipUnless } from '../helpers/databases.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

const DAY = 86_400_000;

function cdr(tenantId: string, startedAt: number, o: Partial<Cdr> = {}): Cdr {
  return {
    id: v7({ msecs: startedAt }),
    tenantId,
    callId: v7(),
    nodeId: 'bench',
    direction: 'local',
    caller: 'alice',
    callee: 'bob',
    dialled: ['bob'],
    account: 'alice',
    provider: null,
    startedAt,
    ringingAt: startedAt + 100,
    answeredAt: startedAt + 2000,
    endedAt: startedAt + 10_000,
    ringMs: 1900,
    talkMs: 8000,
    status: 'answered',
    sipStatus: 200,
    hangupCause: 'normal',
    hangupBy: 'caller',
    dialplan: null,
    legs: [],
    log: [],
    ...o,
  };
}

/** Parses RFC 4180 CSV (quoted fields, doubled quotes, CRLF) into rows of cells. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += ch;
  }
  assert.equal(cell, '', 'file ends with CRLF');
  return rows;
}

for (const dialect of DIALECTS) {
  describe(`call record listing [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    let sw: TestSwitch;
    before(async () => {
      sw = await startTestSwitch(dialect);
    });
    after(async () => {
      await sw.close();
    });

    async function tenant(): Promise<{ api: ApiClient; id: string }> {
      const api = await signUp(sw.httpUrl);
      return { api, id: (await api.get('/me')).body.tenant.id };
    }

    async function walk(api: ApiClient, query: string, between?: () => Promise<void>): Promise<string[]> {
      const ids: string[] = [];
      let cursor: string | null = null;
      do {
        const r: ApiResponse<CdrPage> = await api.get(`/cdrs?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        ids.push(...r.body.items.map((i) => i.id));
        cursor = r.body.nextCursor;
        await between?.();
      } while (cursor);
      return ids;
    }

    test('keyset pages: newest first, no duplicates or gaps, stable while records arrive', async () => {
      const { api, id } = await tenant();
      const base = Date.now() - DAY;
      // Ties on started_at are ordered by id.
      const records = Array.from({ length: 23 }, (_, i) => cdr(id, base + Math.floor(i / 3) * 1000));
      await sw.running.store.cdrs.insert(records);
      const expected = [...records].sort((a, b) => b.startedAt - a.startedAt || (a.id < b.id ? 1 : -1)).map((r) => r.id);
      let newer = 0;
      const seen = await walk(api, 'limit=5', async () => {
        await sw.running.store.cdrs.insert([cdr(id, Date.now() + newer++)]);
      });
      assert.deepEqual(seen, expected);
      const first = await api.get('/cdrs?limit=3');
      assert.equal(first.body.items.length, 3);
      assert.equal(first.body.items[0].startedAt > first.body.items[2].startedAt, true);
      // A full last page has no next cursor only when nothing follows.
      const all = await api.get('/cdrs?limit=500');
      assert.equal(all.body.items.length, 23 + newer);
      assert.equal(all.body.nextCursor, null);
    });

    test('filters: time range, number, status, SIP status', async () => {
      const { api, id } = await tenant();
      const t = Date.UTC(2025, 2, 1);
      const rs = [
        cdr(id, t, { caller: '+4930111', callee: '200', dialled: ['200'] }),
        cdr(id, t + 1000, { caller: 'alice', callee: '+4930111', dialled: ['carol'] }),
        cdr(id, t + 2000, { caller: 'alice', callee: 'x', dialled: ['0301234@trunk', 'bob'], status: 'busy', sipStatus: 486, answeredAt: null, talkMs: 0 }),
        cdr(id, t + 3000, { caller: 'a%b', callee: 'y', dialled: ['q_1'], status: 'no-answer', sipStatus: 480, answeredAt: null, talkMs: 0 }),
        cdr(id, t + 4000, { caller: 'zed', callee: 'w', dialled: ['axb'], status: 'failed', sipStatus: 503, answeredAt: null, talkMs: 0 }),
      ];
      await sw.running.store.cdrs.insert(rs);
      const ids = async (q: string) => (await walk(api, `limit=2&${q}`)).map((x) => rs.findIndex((r) => r.id === x));
      const iso = (ms: number) => encodeURIComponent(new Date(ms).toISOString());
      assert.deepEqual(await ids(`from=${iso(t + 1000)}&to=${iso(t + 3000)}`), [2, 1], 'from inclusive, to exclusive');
      assert.deepEqual(await ids(`from=${encodeURIComponent('2025-03-01T01:00:01+01:00')}`), [4, 3, 2, 1], 'offsets honoured');
      assert.deepEqual(await ids('number=%2B4930111'), [1, 0], 'caller or callee');
      assert.deepEqual(await ids('number=bob'), [2], 'a dialled target');
      assert.deepEqual(await ids('number=0301234'), [2], "a dialled target's user part");
      assert.deepEqual(await ids('number=0301234%40trunk'), [2]);
      assert.deepEqual(await ids('number=4930111'), [], 'no substring matches');
      assert.deepEqual(await ids('number=a%25b'), [3], '% is a character, not a wildcard');
      assert.deepEqual(await ids('number=q_1'), [3]);
      assert.deepEqual(await ids('number=a_b'), [], '_ is a character, not a wildcard');
      assert.deepEqual(await ids('status=answered'), [1, 0]);
      assert.deepEqual(await ids('status=busy'), [2]);
      assert.deepEqual(await ids('status=no-answer'), [3]);
      assert.deepEqual(await ids('status=503'), [4]);
      assert.deepEqual(await ids('status=answered&number=alice'), [1]);

      for (const [q, field] of [
        ['from=yesterday', 'from'],
        ['to=2025-01-01', 'to'],
        ['status=maybe', 'status'],
        ['status=99', 'status'],
        ['limit=0', 'limit'],
        ['limit=501', 'limit'],
        ['cursor=nonsense', 'cursor'],
        ['cursor=WzEsMl0', 'cursor'],
        ['number=', 'number'],
        ['colour=red', ''],
      ] as const) {
        const r = await api.get(`/cdrs?${q}`);
        assert.equal(r.status, 400, q);
        if (field) assert.equal(r.body.field, field, `${q}: ${JSON.stringify(r.body)}`);
      }
      assert.equal((await api.get('/cdrs.csv?status=maybe')).body.field, 'status');
    });

    test('CSV: header, escaping, formula guard that keeps E.164 numbers readable', async () => {
      const { api, id } = await tenant();
      const t = Date.UTC(2025, 3, 1);
      const rs = [
        cdr(id, t, { caller: '+4930123456', callee: '=HYPERLINK("http://x","y")', dialled: ['-2+3'], account: '@acct' }),
        cdr(id, t + 1000, { caller: 'a,b "c"\r\nd', callee: '+49 30 1', dialled: [], provider: 'trunk', dialplan: { name: 'p', version: 2, outcome: 'ok' } }),
      ];
      await sw.running.store.cdrs.insert(rs);
      const auth = { authorization: `Bearer ${(await api.post('/api-keys', { name: 'csv' })).body.key}` };
      const res = await fetch(`${sw.httpUrl}/api/v1/cdrs.csv`, { headers: auth });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type')!, /^text\/csv/);
      assert.match(res.headers.get('content-disposition')!, /attachment/);
      const rows = parseCsv(await res.text());
      const header = rows[0]!;
      assert.deepEqual(header.slice(0, 5), ['id', 'started_at', 'ringing_at', 'answered_at', 'ended_at']);
      assert.equal(rows.length, 3);
      const col = (row: string[], name: string) => row[header.indexOf(name)];
      const [newer, older] = [rows[1]!, rows[2]!];
      assert.equal(col(newer, 'id'), rs[1]!.id);
      assert.equal(col(newer, 'caller'), 'a,b "c"\r\nd');
      assert.equal(col(newer, 'callee'), "'+49 30 1");
      assert.equal(col(newer, 'dialled'), '');
      assert.equal(col(newer, 'account'), 'alice');
      assert.equal(col(newer, 'provider'), 'trunk');
      assert.equal(col(newer, 'dialplan'), 'p');
      assert.equal(col(newer, 'dialplan_version'), '2');
      assert.equal(col(older, 'caller'), '+4930123456');
      assert.equal(col(older, 'callee'), `'=HYPERLINK("http://x","y")`);
      assert.equal(col(older, 'dialled'), "'-2+3");
      assert.equal(col(older, 'account'), "'@acct");
      assert.equal(col(older, 'started_at'), new Date(t).toISOString());
      assert.equal(col(older, 'talk_ms'), '8000');
      assert.equal(col(older, 'status'), 'answered');
      assert.equal(col(older, 'sip_status'), '200');
      // Filters apply; more rows than one internal page stream in order.
      const many = Array.from({ length: 2100 }, (_, i) => cdr(id, t - 10_000 - i, { caller: 'bulk' }));
      await sw.running.store.cdrs.insert(many);
      const bulk = parseCsv(await (await fetch(`${sw.httpUrl}/api/v1/cdrs.csv?number=bulk`, { headers: auth })).text());
      assert.equal(bulk.length, 2101);
      assert.deepEqual(
        bulk.slice(1).map((r) => r[0]),
        many.map((r) => r.id),
      );
    });

    test('purge: only records older than the cutoff, in batches, per tenant or globally', async () => {
      const a = await tenant();
      const b = await tenant();
      const now = Date.now();
      const archive = sw.running.store.cdrs;
      const old = (tenantId: string, n: number) => Array.from({ length: n }, (_, i) => cdr(tenantId, now - 100 * DAY - i * 1000));
      await archive.insert([...old(a.id, 7), ...old(b.id, 4), cdr(a.id, now - 89 * DAY), cdr(b.id, now - DAY)]);
      const count = async (api: ApiClient) => (await walk(api, 'limit=500')).length;

      const batches: number[] = [];
      assert.equal(await sw.running.store.tenant(a.id).cdrs.purgeOlderThan(now - 90 * DAY, { batchSize: 3, pauseMs: 1, onBatch: (n) => batches.push(n) }), 7);
      assert.deepEqual(batches, [3, 3, 1]);
      assert.equal(await count(a.api), 1, 'the 89-day-old record is kept');
      assert.equal(await count(b.api), 5, "the other tenant's records are untouched");

      // The retention setting's purge, as the switch runs it: every tenant, cutoff now - days.
      const stop = startCdrRetention({ archive, retentionDays: 90, log: createLogger({ level: 'silent', pretty: false }), firstRunMs: 0, purge: { batchSize: 500, pauseMs: 1 } });
      for (let i = 0; i < 250 && (await count(b.api)) !== 1; i++) await new Promise((r) => setTimeout(r, 20));
      await stop();
      assert.equal(await count(b.api), 1);
      assert.equal(await count(a.api), 1);
    });

    test("another tenant's records are invisible on every route", async () => {
      const owner = await tenant();
      const other = await tenant();
      const r = cdr(owner.id, Date.now(), { caller: 'secret-caller' });
      await sw.running.store.cdrs.insert([r]);
      assert.equal((await owner.api.get(`/cdrs/${r.id}`)).status, 200);
      assert.equal((await other.api.get(`/cdrs/${r.id}`)).status, 404);
      assert.deepEqual((await other.api.get('/cdrs')).body, { items: [], nextCursor: null });
      assert.deepEqual((await other.api.get('/cdrs?number=secret-caller')).body.items, []);
      const key = (await other.api.post('/api-keys', { name: 'x' })).body.key;
      const csv = await (await fetch(`${sw.httpUrl}/api/v1/cdrs.csv`, { headers: { authorization: `Bearer ${key}` } })).text();
      assert.equal(parseCsv(csv).length, 1, 'header only');
      // A cursor made from the owner's row does not open the owner's records to the other tenant.
      const cursor = Buffer.from(JSON.stringify([r.startedAt + 1, r.id])).toString('base64url');
      assert.deepEqual((await other.api.get(`/cdrs?cursor=${cursor}`)).body.items, []);
      assert.equal((await new ApiClient(sw.httpUrl).get('/cdrs')).status, 401);
    });
  });
}
