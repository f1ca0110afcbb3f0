/**
 * GET /stats/quality: the media quality of a tenant's answered calls per hour and over the period,
 * summed in the database from the columns each record is written with (both dialects); unanswered
 * calls, calls without relay figures and another tenant's calls do not count.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { CallQualityView } from '../../contract/callStats.ts';
import type { LegQuality } from '../../contract/calls.ts';
import type { Cdr, CdrLeg } from '../../server/domain/cdr.ts';
import { signUp } from '../helpers/api.ts';
import { callRecord } from '../helpers/callRecords.ts';
import { DIALECTS, skipUnless } from '../helpers/databases.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

const HOUR = 3_600_000;
const BASE = Date.UTC(2026, 5, 1, 10);

interface Figures {
  packets: number;
  lost: number | null;
  jitterMs: number | null;
  /** Audio to the phone too (it always flows from it here, when there are packets). */
  toPhone?: boolean;
}

function quality(f: Figures): LegQuality {
  return {
    fromPhone: { packets: f.packets, lost: f.lost, jitterMs: f.jitterMs },
    toPhone: { packets: f.toPhone === false ? 0 : 100 },
    flowing: { fromPhone: f.packets > 0, toPhone: f.toPhone !== false },
  };
}

function leg(direction: 'inbound' | 'outbound', at: number, answered: boolean, f?: Figures): CdrLeg {
  const party = { user: direction === 'inbound' ? 'a' : 'b', host: 'h', uri: 'sip:x@h' };
  return {
    id: randomUUID(),
    direction,
    from: party,
    to: party,
    createdAt: at,
    ...(answered ? { answeredAt: at } : {}),
    endedAt: at + 60_000,
    ...(f ? { media: { silentSince: null, quality: quality(f) } } : {}),
  };
}

/** A minute's call with these legs (the hang-up cause does not count here). */
const record = (tenantId: string, startedAt: number, answered: boolean, legs: CdrLeg[]): Cdr =>
  callRecord({ tenantId, startedAt, seconds: 60, answered, legs, hangupCause: 'normal' });

/** A bridged call, both legs measured. */
function bridged(tenantId: string, at: number, caller: Figures, callee: Figures): Cdr {
  return record(tenantId, at, true, [leg('inbound', at, true, caller), leg('outbound', at, true, callee)]);
}

for (const dialect of DIALECTS) {
  describe(`call quality statistics [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    let sw: TestSwitch;
    before(async () => {
      sw = await startTestSwitch(dialect);
    });
    after(async () => {
      await sw.close();
    });

    test('answered calls: audio both ways, loss and jitter per side, per hour and in total; another tenant’s calls never count', async () => {
      const api = await signUp(sw.httpUrl);
      const other = await signUp(sw.httpUrl);
      const tenantId = (await api.get('/me')).body.tenant.id as string;
      const otherId = (await other.get('/me')).body.tenant.id as string;
      await sw.running.store.cdrs.insert([
        // 10:00–11:00: two bridged calls with audio both ways…
        bridged(tenantId, BASE + 60_000, { packets: 990, lost: 10, jitterMs: 4 }, { packets: 1000, lost: 0, jitterMs: 2 }),
        bridged(tenantId, BASE + 120_000, { packets: 480, lost: 20, jitterMs: 6 }, { packets: 500, lost: null, jitterMs: null }),
        // …one where the answering phone never heard the caller (one-way audio), with a losing fork branch unmeasured…
        record(tenantId, BASE + 180_000, true, [
          leg('inbound', BASE, true, { packets: 300, lost: 0, jitterMs: 1 }),
          leg('outbound', BASE, false),
          leg('outbound', BASE, true, { packets: 0, lost: null, jitterMs: null, toPhone: false }),
        ]),
        // …one answered without the relay (direct media): counted as answered, not measured…
        record(tenantId, BASE + 240_000, true, [leg('inbound', BASE, true), leg('outbound', BASE, true)]),
        // …and an unanswered call with early media: not an answered call at all.
        record(tenantId, BASE + 300_000, false, [leg('inbound', BASE, false, { packets: 50, lost: 50, jitterMs: 90 })]),
        // 12:00–13:00: a dialplan answered (prompts, no callee), audio both ways.
        record(tenantId, BASE + 2 * HOUR, true, [leg('inbound', BASE + 2 * HOUR, true, { packets: 200, lost: 0, jitterMs: 3 })]),
        // Outside the period.
        bridged(tenantId, BASE - HOUR, { packets: 1, lost: 1, jitterMs: 100 }, { packets: 1, lost: 1, jitterMs: 100 }),
        // Another tenant's bad calls in the same hour.
        ...Array.from({ length: 4 }, (_, i) =>
          bridged(otherId, BASE + i * 1000, { packets: 10, lost: 90, jitterMs: 200, toPhone: false }, { packets: 10, lost: 90, jitterMs: 200 }),
        ),
      ]);

      const r = await api.get<CallQualityView>(`/stats/quality?from=${BASE}&to=${BASE + 3 * HOUR}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const first = {
        hour: BASE,
        answered: 4,
        measured: 3,
        bothWays: 2,
        caller: { legs: 3, packets: 990 + 480 + 300, lost: 30, lossPackets: 990 + 480 + 300, jitterMsSum: 11, jitterLegs: 3 },
        callee: { legs: 3, packets: 1500, lost: 0, lossPackets: 1000, jitterMsSum: 2, jitterLegs: 1 },
      };
      const second = {
        hour: BASE + 2 * HOUR,
        answered: 1,
        measured: 1,
        bothWays: 1,
        caller: { legs: 1, packets: 200, lost: 0, lossPackets: 200, jitterMsSum: 3, jitterLegs: 1 },
        callee: { legs: 0, packets: 0, lost: 0, lossPackets: 0, jitterMsSum: 0, jitterLegs: 0 },
      };
      assert.deepEqual(r.body.hours, [first, second]);
      assert.deepEqual(r.body.total, {
        answered: 5,
        measured: 4,
        bothWays: 3,
        caller: { legs: 4, packets: 1970, lost: 30, lossPackets: 1970, jitterMsSum: 14, jitterLegs: 4 },
        callee: { legs: 3, packets: 1500, lost: 0, lossPackets: 1000, jitterMsSum: 2, jitterLegs: 1 },
      });

      // The other tenant sees only its own four calls.
      const theirs = await other.get<CallQualityView>(`/stats/quality?from=${BASE}&to=${BASE + 3 * HOUR}`);
      assert.equal(theirs.body.total.answered, 4);
      assert.equal(theirs.body.total.bothWays, 0);
      assert.equal(theirs.body.total.caller.lost, 360);

      const empty = await api.get<CallQualityView>(`/stats/quality?from=${BASE + 5 * HOUR}&to=${BASE + 6 * HOUR}`);
      assert.deepEqual(empty.body.hours, []);
      assert.equal(empty.body.total.answered, 0);
      assert.equal((await api.get(`/stats/quality?from=${BASE}&to=${BASE + 40 * 24 * HOUR}`)).status, 400, 'at most 31 days');
    });
  });
}
