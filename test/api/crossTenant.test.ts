/**
 * Tenant isolation through the whole API: tenant B tries every route that names an object against
 * tenant A's objects and gets 404 (or, for an upsert by name, its own new object), and A's objects
 * are unchanged afterwards. The route list is checked against the route files, so a new route
 * cannot be added without being walked here.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { finalise, newCallState } from '../../server/cdr/callRecord.ts';
import { writeWav } from '../../server/media/audio/wav.ts';
import { RecordingFiles } from '../../server/recordings/recordingFiles.ts';
import { newId } from '../../server/store/ids.ts';
import { createSipAccount, signUp, type ApiClient } from '../helpers/api.ts';
import { DIALECTS, skipUnless } from '../helpers/databases.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

const API_DIR = fileURLToPath(new URL('../../server/api/', import.meta.url));

/** Every `METHOD /path` the tenant-facing routers declare, with their mount points from app.ts. */
function declaredRoutes(): Set<string> {
  const app = readFileSync(`${API_DIR}app.ts`, 'utf8');
  const mounts = new Map<string, string>();
  for (const m of app.matchAll(/tenantApi\.use\((?:'([^']*)',\s*)?(\w+)\(/g)) mounts.set(m[2]!, m[1] ?? '');
  const routes = new Set<string>();
  for (const file of readdirSync(API_DIR).filter((f) => f.endsWith('Routes.ts'))) {
    const source = readFileSync(`${API_DIR}${file}`, 'utf8');
    const fn = /export function (\w+)\(/.exec(source)?.[1];
    if (!fn || !mounts.has(fn)) continue;
    for (const m of source.matchAll(/\br\.(get|post|put|patch|delete)\('([^']*)'/g)) {
      const path = `${mounts.get(fn)}${m[2] === '/' ? '' : m[2]}` || '/';
      routes.add(`${m[1]!.toUpperCase()} ${path}`);
    }
  }
  return routes;
}

interface Objects {
  account: { id: string; username: string };
  apiKey: string;
  dialplan: string;
  provider: string;
  cdr: string;
  /** The call id of A's recorded call. */
  callId: string;
  prompt: string;
  recording: string;
}

/** What tenant B tries against tenant A's objects, and what it must get. */
function attempts(a: Objects): Array<{ route: string; method: string; path: string; body?: unknown; expect: number }> {
  const plan = a.dialplan;
  return [
    { route: 'GET /sip-accounts/:id', method: 'GET', path: `/sip-accounts/${a.account.id}`, expect: 404 },
    { route: 'PATCH /sip-accounts/:id', method: 'PATCH', path: `/sip-accounts/${a.account.id}`, body: { displayName: 'stolen' }, expect: 404 },
    { route: 'DELETE /sip-accounts/:id', method: 'DELETE', path: `/sip-accounts/${a.account.id}`, expect: 404 },
    { route: 'POST /sip-accounts/:id/browser-session', method: 'POST', path: `/sip-accounts/${a.account.id}/browser-session`, body: {}, expect: 404 },
    { route: 'DELETE /api-keys/:id', method: 'DELETE', path: `/api-keys/${a.apiKey}`, expect: 404 },
    { route: 'GET /dialplans/:name', method: 'GET', path: `/dialplans/${plan}`, expect: 404 },
    { route: 'GET /dialplans/:name/versions/:version', method: 'GET', path: `/dialplans/${plan}/versions/1`, expect: 404 },
    { route: 'POST /dialplans/:name/restore', method: 'POST', path: `/dialplans/${plan}/restore`, body: { version: 1 }, expect: 404 },
    { route: 'POST /dialplans/:name/simulate', method: 'POST', path: `/dialplans/${plan}/simulate`, body: { outcomes: { x: 'busy' } }, expect: 404 },
    { route: 'DELETE /dialplans/:name', method: 'DELETE', path: `/dialplans/${plan}`, expect: 404 },
    // Dialplans are named per tenant: B saving under A's name makes B's own dialplan.
    { route: 'PUT /dialplans/:name', method: 'PUT', path: `/dialplans/${plan}`, body: { source: 'export default async function () {}\n' }, expect: 201 },
    { route: 'GET /providers/:id', method: 'GET', path: `/providers/${a.provider}`, expect: 404 },
    { route: 'PATCH /providers/:id', method: 'PATCH', path: `/providers/${a.provider}`, body: { host: 'evil.example' }, expect: 404 },
    { route: 'DELETE /providers/:id', method: 'DELETE', path: `/providers/${a.provider}`, expect: 404 },
    { route: 'GET /cdrs/:id', method: 'GET', path: `/cdrs/${a.cdr}`, expect: 404 },
    { route: 'GET /cdrs/:id/story', method: 'GET', path: `/cdrs/${a.cdr}/story`, expect: 404 },
    { route: 'POST /providers/:id/test', method: 'POST', path: `/providers/${a.provider}/test`, body: {}, expect: 404 },
    // A's calls in progress are not B's to see or end (the id of A's recorded call stands for one).
    { route: 'GET /calls/:callId/story', method: 'GET', path: `/calls/${a.callId}/story`, expect: 404 },
    { route: 'POST /calls/:callId/hangup', method: 'POST', path: `/calls/${a.callId}/hangup`, body: {}, expect: 404 },
    { route: 'GET /prompts/:name', method: 'GET', path: `/prompts/${a.prompt}`, expect: 404 },
    { route: 'GET /prompts/:name/audio', method: 'GET', path: `/prompts/${a.prompt}/audio`, expect: 404 },
    { route: 'DELETE /prompts/:name', method: 'DELETE', path: `/prompts/${a.prompt}`, expect: 404 },
    // Prompts are named per tenant: B uploading under A's name makes B's own prompt.
    { route: 'PUT /prompts/:name', method: 'PUT', path: `/prompts/${a.prompt}`, body: writeWav(new Int16Array(800)), expect: 201 },
    { route: 'GET /recordings/:id', method: 'GET', path: `/recordings/${a.recording}`, expect: 404 },
    { route: 'GET /recordings/:id/audio', method: 'GET', path: `/recordings/${a.recording}/audio`, expect: 404 },
    { route: 'DELETE /recordings/:id', method: 'DELETE', path: `/recordings/${a.recording}`, expect: 404 },
  ];
}

/** Routes without an object in their path: B's view of them must not contain A's objects. */
const LISTS = [
  'GET /sip-accounts',
  'GET /registrations',
  'GET /registrations/summary',
  'GET /api-keys',
  'GET /dialplans',
  'GET /providers',
  'GET /cdrs',
  'GET /cdrs.csv',
  'GET /calls',
  'GET /settings',
  'GET /getting-started',
  'GET /stats/calls',
  'GET /stats/quality',
  'GET /prompts',
  'GET /recordings',
  'GET /tones',
  'GET /tones/:name/audio',
];
const CREATES = ['POST /sip-accounts', 'POST /api-keys', 'POST /dialplans', 'POST /dialplans/compile', 'POST /providers', 'PATCH /settings', 'GET /events'];

for (const dialect of DIALECTS) {
  describe(`tenant isolation across the API (${dialect})`, { skip: skipUnless(dialect) }, () => {
    let sw: TestSwitch;
    let a: ApiClient;
    let b: ApiClient;
    let objects: Objects;
    let before_: Record<string, unknown>;

    before(async () => {
      sw = await startTestSwitch(dialect);
      a = await signUp(sw.httpUrl);
      b = await signUp(sw.httpUrl);
      const account = await createSipAccount(a);
      const key = await a.post('/api-keys', { name: 'ci' });
      assert.equal(key.status, 201, JSON.stringify(key.body));
      const plan = await a.request('PUT', '/dialplans/a-plan', { source: 'export default async function () { await dial("x"); }\n' });
      assert.equal(plan.status, 201, JSON.stringify(plan.body));
      const provider = await a.post('/providers', { name: 'trunk', host: '192.0.2.10', username: 'u1', password: 'provider-secret-1' });
      assert.equal(provider.status, 201, JSON.stringify(provider.body));
      const tenantA = (await a.get('/me')).body.tenant.id as string;
      const record = finalise(newCallState({ type: 'call.ended', tenantId: tenantA, callId: 'call-of-a', nodeId: 'n', seq: 1, at: Date.now() }), Date.now());
      await sw.running.store.cdrs.insert([record]);
      assert.equal((await a.request('PUT', '/prompts/a-prompt', writeWav(new Int16Array(1600)))).status, 201);
      const recording = newId();
      const place = new RecordingFiles(sw.db.dir).place(tenantA, recording);
      mkdirSync(path.dirname(place.absolute), { recursive: true });
      writeFileSync(place.absolute, writeWav(new Int16Array(800)));
      await sw.running.store
        .tenant(tenantA)
        .recordings.add({ id: recording, callId: 'call-of-a', channelId: 'ch', file: place.relative, durationMs: 100, bytes: 1644, createdAt: Date.now() });
      objects = {
        account: { id: account.id, username: account.username },
        apiKey: key.body.id,
        dialplan: 'a-plan',
        provider: provider.body.id,
        cdr: record.id,
        callId: record.callId,
        prompt: 'a-prompt',
        recording,
      };
      before_ = {
        account: (await a.get(`/sip-accounts/${account.id}`)).body,
        dialplan: (await a.get('/dialplans/a-plan')).body,
        provider: (await a.get(`/providers/${provider.body.id}`)).body,
        cdr: (await a.get(`/cdrs/${record.id}`)).body,
        keys: (await a.get('/api-keys')).body,
        prompt: (await a.get('/prompts/a-prompt/audio')).body,
        recording: (await a.get(`/recordings/${recording}`)).body,
      };
    });
    after(async () => {
      await sw?.close();
    });

    test('the walk covers every route that names an object, and every other route is listed', () => {
      const declared = declaredRoutes();
      const walked = new Set(
        attempts({ account: { id: '', username: '' }, apiKey: '', dialplan: '', provider: '', cdr: '', callId: '', prompt: '', recording: '' }).map((x) => x.route),
      );
      const accounted = new Set([...walked, ...LISTS, ...CREATES]);
      const missing = [...declared].filter((r) => !accounted.has(r));
      assert.deepEqual(missing, [], 'routes not covered by the isolation walk');
      assert.ok(declared.size >= walked.size + LISTS.length, `parsed ${declared.size} routes`);
    });

    test("tenant B gets 404 for each of A's objects; A's objects are unchanged", async () => {
      for (const x of attempts(objects)) {
        const r = await b.request(x.method, x.path, x.body);
        assert.equal(r.status, x.expect, `${x.route} as another tenant: ${r.status} ${JSON.stringify(r.body)}`);
      }
      assert.deepEqual((await a.get(`/sip-accounts/${objects.account.id}`)).body, before_.account);
      assert.deepEqual((await a.get('/dialplans/a-plan')).body, before_.dialplan);
      const provider = (await a.get(`/providers/${objects.provider}`)).body;
      assert.equal(provider.host, (before_.provider as { host: string }).host);
      assert.equal(provider.updatedAt, (before_.provider as { updatedAt: string }).updatedAt);
      assert.deepEqual((await a.get(`/cdrs/${objects.cdr}`)).body, before_.cdr);
      assert.deepEqual((await a.get('/api-keys')).body, before_.keys);
      assert.deepEqual((await a.get('/prompts/a-prompt/audio')).body, before_.prompt);
      assert.deepEqual((await a.get(`/recordings/${objects.recording}`)).body, before_.recording);
    });

    test("B's lists show none of A's objects", async () => {
      const secretsOfA = [objects.account.id, objects.account.username, objects.apiKey, objects.provider, objects.cdr, 'call-of-a', 'provider-secret-1', objects.recording];
      for (const path of [
        '/sip-accounts',
        '/registrations',
        '/registrations/summary',
        '/api-keys',
        '/dialplans',
        '/providers',
        '/cdrs',
        '/cdrs.csv',
        '/calls',
        '/recordings',
        '/recordings?callId=call-of-a',
        `/registrations?accountId=${objects.account.id}`,
      ]) {
        const r = await b.get(path);
        assert.equal(r.status, 200, path);
        const text = typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
        for (const s of secretsOfA) assert.ok(!text.includes(s), `${path} shows ${s} of another tenant`);
      }
    });
  });
}
