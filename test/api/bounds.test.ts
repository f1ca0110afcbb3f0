/**
 * What a tenant can grow is bounded, and hitting a bound gives a clear error: the test run's copy
 * of the key/value store, open event streams, and the dialplan log lines of one execution on every
 * path (a test run, a real call's events and live stream, the call record).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CallEvent } from '../../server/calls/events.ts';
import { DEFAULT_LIMITS } from '../../server/dialplan/options.ts';
import { createSipAccount, signUp, type ApiClient, type UncheckedJson } from '../helpers/api.ts';
import { sdp } from '../helpers/sipDialog.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

const MAX_LOG_LINES = DEFAULT_LIMITS.maxLogLines;

/** Server-sent events from `GET /events`, as parsed frames. */
async function openStream(url: string, key: string) {
  const abort = new AbortController();
  const res = await fetch(`${url}/api/v1/events`, { headers: { authorization: `Bearer ${key}` }, signal: abort.signal });
  const events: UncheckedJson[] = [];
  if (res.ok) {
    void (async () => {
      let text = '';
      const decoder = new TextDecoder();
      try {
        for await (const chunk of res.body!) {
          text += decoder.decode(chunk, { stream: true });
          let end;
          while ((end = text.indexOf('\n\n')) >= 0) {
            const data = /^data: (.*)$/m.exec(text.slice(0, end))?.[1];
            text = text.slice(end + 2);
            if (data) events.push(JSON.parse(data));
          }
        }
      } catch {
        /* aborted */
      }
    })();
  }
  return { res, events, close: () => abort.abort() };
}

async function until<T>(get: () => T | undefined | Promise<T | undefined>, what: string, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('bounds a tenant can reach', () => {
  let sw: TestSwitch;
  let api: ApiClient;
  let key: string;
  let tenantId: string;
  before(async () => {
    sw = await startTestSwitch('sqlite', { env: { HTTP_EVENT_STREAMS_PER_TENANT: '2' } });
    api = await signUp(sw.httpUrl);
    key = (await api.post('/api-keys', { name: 'streams' })).body.key;
    tenantId = (await api.get('/me')).body.tenant.id;
  });
  after(async () => {
    await sw.close();
  });

  test('a test run’s store stops at the real store’s limits with a clear error', async () => {
    const source = `export default async function () {
      let n = 0, error = '';
      try { for (; n < 900; n++) await store.set('k' + n, 'x'.repeat(16000)); } catch (e) { error = e.message; }
      log('wrote ' + n + ': ' + error);
      try { await store.set('huge', 'y'.repeat(20000)); } catch (e) { log('huge: ' + e.message); }
      await store.delete('k0');
      try { await store.set('again', 'z'.repeat(15000)); log('again: ok'); } catch (e) { log('again: ' + e.message); }
    }`;
    const r = await api.post('/dialplans/quota/simulate', { source });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const lines = r.body.logs.map((l: { message: string }) => l.message);
    const wrote = /^wrote (\d+): (.*)$/.exec(lines[0]);
    assert.ok(wrote, lines[0]);
    // 4 MiB of keys and values, 16,004 bytes each.
    assert.equal(Number(wrote[1]), Math.floor((4 * 1024 * 1024) / 16_004));
    assert.match(wrote[2]!, /may hold at most 4194304 \(keys and values\); delete some first/);
    assert.match(lines[1], /^huge: .*a value may have at most 16384/);
    assert.equal(lines[2], 'again: ok', 'deleting gives room back');
  });

  test('event streams are capped per tenant with a 429 that says why; closing one makes room', async () => {
    const first = await openStream(sw.httpUrl, key);
    const second = await openStream(sw.httpUrl, key);
    try {
      assert.deepEqual([first.res.status, second.res.status], [200, 200]);
      const third = await openStream(sw.httpUrl, key);
      const refusal = await third.res.text();
      third.close();
      assert.equal(third.res.status, 429);
      assert.match(JSON.parse(refusal).error, /at most 2 event streams/);
      assert.equal(sw.running.liveView.listenerCount(tenantId), 2);
      // Another tenant is not affected.
      const other = await signUp(sw.httpUrl);
      const otherStream = await openStream(sw.httpUrl, (await other.post('/api-keys', { name: 's' })).body.key);
      assert.equal(otherStream.res.status, 200);
      otherStream.close();
      first.close();
      await until(() => sw.running.liveView.listenerCount(tenantId) === 1, 'the closed stream to be dropped');
      const again = await openStream(sw.httpUrl, key);
      assert.equal(again.res.status, 200);
      again.close();
    } finally {
      first.close();
      second.close();
    }
  });

  test('one execution’s log lines are capped on every path: test run, call events, live stream, call record', async () => {
    const source = `export default async function () {
      for (let i = 0; i < 1000; i++) log('line ' + i);
      console.log('after the limit');
      return respond(486, 'Busy Here');
    }`;
    assert.equal((await api.request('PUT', '/dialplans/noisy', { source })).status, 201);

    const run = await api.post('/dialplans/noisy/simulate', {});
    assert.equal(run.status, 200);
    assert.equal(run.body.logs.length, MAX_LOG_LINES, 'the test run');
    assert.match(run.body.logs.at(-1).message, /log limit reached/);

    const bob = await createSipAccount(api, { dialplanIn: 'noisy' });
    await until(() => sw.running.liveView.listenerCount(tenantId) === 0, 'earlier streams to close');
    const stream = await openStream(sw.httpUrl, key);
    const onBus: CallEvent[] = [];
    const unsubscribe = sw.running.bus.subscribe((e) => void (e.tenantId === tenantId && onBus.push(e)));
    const phone = await TestPhone.open('udp', sw.sipPort);
    try {
      const invite = phone.build({
        method: 'INVITE',
        uri: `sip:${bob.username}@127.0.0.1:${sw.sipPort}`,
        to: `sip:${bob.username}@127.0.0.1`,
        from: 'sip:stranger@127.0.0.1',
        headers: ['Content-Type: application/sdp'],
        body: sdp('stranger'),
      });
      phone.sendRaw(invite.text);
      const final = await phone.waitFor((raw) => raw.includes(invite.branch) && /^SIP\/2\.0 [3-6]\d\d/.test(raw), 15_000);
      assert.match(final, /^SIP\/2\.0 486 /);
      await until(() => onBus.some((e) => e.type === 'call.ended'), 'the call to end');
      const logged = onBus.filter((e) => e.type === 'dialplan.log');
      assert.equal(logged.length, MAX_LOG_LINES, 'dialplan.log events of the call');
      await until(() => stream.events.some((e) => e.type === 'call.ended'), 'the live stream to see the end');
      assert.equal(stream.events.filter((e) => e.type === 'dialplan.log').length, MAX_LOG_LINES, 'the live stream');

      const cdr = await until(async () => (await api.get('/cdrs')).body.items[0], 'the call record');
      const detail = (await api.get(`/cdrs/${cdr.id}`)).body;
      assert.equal(detail.log.length, 101, 'the call record keeps 100 lines and a note');
      assert.equal(detail.log.at(-1).message, `${MAX_LOG_LINES - 100} more log lines not kept`);
    } finally {
      unsubscribe();
      stream.close();
      phone.close();
    }
  });
});
