/** GET/PATCH /settings: the tenant's time zone, where phones connect, and the limits in force. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApiClient, signUp } from '../helpers/api.ts';
import { DIALECTS, skipUnless } from '../helpers/databases.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

for (const dialect of DIALECTS) {
  describe(`settings API [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    let sw: TestSwitch;
    before(async () => {
      sw = await startTestSwitch(dialect, { env: { CALLS_PER_TENANT: '7', DIALPLAN_MAX_LEGS: '9', CDR_RETENTION_DAYS: '30' } });
    });
    after(async () => {
      await sw.close();
    });

    test('shows the SIP connection settings and the limits the switch was started with', async () => {
      const api = await signUp(sw.httpUrl);
      const r = await api.get('/settings');
      assert.equal(r.status, 200);
      assert.equal(r.body.timeZone, 'UTC');
      assert.deepEqual(r.body.sip.proxy, { host: '127.0.0.1', port: sw.sipPort });
      assert.equal(r.body.sip.domain, '127.0.0.1');
      assert.deepEqual(r.body.sip.transports, ['udp', 'tcp']);
      assert.equal(r.body.limits.callsAtOnce, 7);
      assert.equal(r.body.limits.dialplan.legsPerExecution, 9);
      assert.equal(r.body.limits.cdrRetentionDays, 30);
      assert.equal(r.body.limits.dialplan.maxSeconds, 300);
      assert.deepEqual(r.body.limits.store, { keys: 10_000, valueBytes: 16_384, totalBytes: 4 * 1024 * 1024 });
      assert.equal(r.body.limits.eventStreams, 10);
    });

    test('the time zone is changed, validated, and reaches GET /me; other fields are refused', async () => {
      const api = await signUp(sw.httpUrl);
      const ok = await api.patch('/settings', { timeZone: 'Europe/Berlin' });
      assert.equal(ok.status, 200);
      assert.equal(ok.body.timeZone, 'Europe/Berlin');
      assert.equal((await api.get('/me')).body.tenant.timeZone, 'Europe/Berlin');

      const bad = await api.patch('/settings', { timeZone: 'Mars/Olympus_Mons' });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.field, 'timeZone');
      assert.match(bad.body.error, /IANA time zone/);
      assert.equal((await api.patch('/settings', { name: 'x' })).status, 400);
      assert.equal((await api.get('/settings')).body.timeZone, 'Europe/Berlin');
    });

    test('another tenant does not see the change; logged-out callers get 401', async () => {
      const a = await signUp(sw.httpUrl);
      const b = await signUp(sw.httpUrl);
      await a.patch('/settings', { timeZone: 'Asia/Tokyo' });
      assert.equal((await b.get('/settings')).body.timeZone, 'UTC');
      assert.equal((await new ApiClient(sw.httpUrl).get('/settings')).status, 401);
    });
  });
}
