/** GET /stats/calls: calls per hour, answered, talk time and peak concurrency, from the tenant's own records only. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CallStatsView } from '../../contract/callStats.ts';
import { signUp } from '../helpers/api.ts';
import { callRecord } from '../helpers/callRecords.ts';
import { DIALECTS, skipUnless } from '../helpers/databases.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

const HOUR = 3_600_000;
const BASE = Date.UTC(2026, 5, 1, 10); // 10:00 UTC

const record = (tenantId: string, startedAt: number, seconds: number, answered: boolean) => callRecord({ tenantId, startedAt, seconds, answered });

for (const dialect of DIALECTS) {
  describe(`call statistics [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    let sw: TestSwitch;
    before(async () => {
      sw = await startTestSwitch(dialect);
    });
    after(async () => {
      await sw.close();
    });

    test('per hour: calls, answered, talk time, the most at once; another tenant’s calls do not count', async () => {
      const api = await signUp(sw.httpUrl);
      const other = await signUp(sw.httpUrl);
      const tenantId = (await api.get('/me')).body.tenant.id as string;
      const otherId = (await other.get('/me')).body.tenant.id as string;
      await sw.running.store.cdrs.insert([
        // 10:00–11:00: three calls, two answered (60 s + 120 s), two of them at once at 10:05.
        record(tenantId, BASE + 5 * 60_000, 120, true),
        record(tenantId, BASE + 6 * 60_000, 60, true),
        record(tenantId, BASE + 30 * 60_000, 20, false),
        // 12:00–13:00: one call, unanswered.
        record(tenantId, BASE + 2 * HOUR + 60_000, 30, false),
        // Outside the period, and another tenant's busy hour.
        record(tenantId, BASE - 2 * HOUR, 60, true),
        ...Array.from({ length: 5 }, () => record(otherId, BASE + 10 * 60_000, 300, true)),
      ]);
      const r = await api.get<CallStatsView>(`/stats/calls?from=${BASE}&to=${BASE + 3 * HOUR}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body.hours, [
        { hour: BASE, calls: 3, answered: 2, talkMs: 180_000, peakConcurrent: 2 },
        { hour: BASE + 2 * HOUR, calls: 1, answered: 0, talkMs: 0, peakConcurrent: 1 },
      ]);
      const iso = await api.get<CallStatsView>(`/stats/calls?from=${new Date(BASE).toISOString()}&to=${new Date(BASE + HOUR).toISOString()}`);
      assert.equal(iso.body.hours.length, 1);
      assert.equal((await api.get(`/stats/calls?from=${BASE}&to=${BASE + 40 * 24 * HOUR}`)).status, 400, 'at most 31 days');
      assert.equal((await api.get(`/stats/calls?from=${BASE}&to=${BASE}`)).status, 400);
    });
  });
}
