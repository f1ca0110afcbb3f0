/** Call records built from event sequences fed to a running switch's bus, read back through the API. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CdrView } from '../../contract/cdrs.ts';
import { signUp, type ApiClient } from '../helpers/api.ts';
import { DIALECTS, skipUnless } from '../helpers/databases.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { CallScript } from './callScript.ts';

const T0 = Date.UTC(2025, 0, 15, 10, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();

for (const dialect of DIALECTS) {
  describe(`call records [${dialect}]`, { skip: skipUnless(dialect) }, () => {
    let sw: TestSwitch;
    let api: ApiClient;
    let tenantId: string;
    before(async () => {
      sw = await startTestSwitch(dialect);
      api = await signUp(sw.httpUrl);
      tenantId = (await api.get('/me')).body.tenant.id;
    });
    after(async () => {
      await sw.close();
    });

    /** Plays the call, waits for its record and returns it as the API shows it. */
    async function recordOf(play: (c: CallScript) => void) {
      const c = new CallScript(sw.running.bus, tenantId);
      play(c);
      await sw.running.cdrWriter.flush();
      const items = (await api.get('/cdrs?limit=500')).body.items as Array<{ id: string; callId: string }>;
      const item = items.find((i) => i.callId === c.callId);
      assert.ok(item, 'record listed');
      const r = await api.get<CdrView>(`/cdrs/${item.id}`);
      assert.equal(r.status, 200);
      const { id, nodeId, ...rest } = r.body;
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7/);
      assert.equal(nodeId, 'test-node');
      return { ...rest, c };
    }

    test('answered call, BYE from the callee', async () => {
      const r = await recordOf((c) =>
        c
          .inbound('A', { from: 'alice', to: 'bob', account: 'alice', at: T0 })
          .dialplan('default', 3, [['info', 'call alice -> bob']])
          .outbound('B', { from: 'alice', to: 'bob', target: 'bob', account: 'bob', at: T0 + 50 })
          .ringing('B', T0 + 100)
          .ringing('A', T0 + 110)
          .answered('B', T0 + 3100)
          .answered('A', T0 + 3120)
          .bridge('A', 'B')
          .dialplanEnded('bridged')
          .hangup('B', { at: T0 + 63_100, cause: 'normal', by: 'callee' })
          .hangup('A', { at: T0 + 63_110, cause: 'normal', by: 'switch' })
          .end(),
      );
      const { c, legs, log, recordings, ...fields } = r;
      assert.deepEqual(recordings, [], 'no recording was made');
      assert.deepEqual(fields, {
        callId: c.callId,
        direction: 'local',
        caller: 'alice',
        callee: 'bob',
        dialled: ['bob'],
        account: 'alice',
        provider: null,
        startedAt: iso(T0),
        ringingAt: iso(T0 + 100),
        answeredAt: iso(T0 + 3120),
        endedAt: iso(T0 + 63_110),
        ringMs: 3020,
        talkMs: 59_990,
        status: 'answered',
        sipStatus: 200,
        hangupCause: 'normal',
        hangupBy: 'callee',
        dialplan: { name: 'default', version: 3, outcome: 'bridged' },
      });
      assert.deepEqual(
        legs.map((l) => [l.id, l.direction, l.target ?? null, l.account, l.createdAt, l.ringingAt, l.answeredAt, l.endedAt, l.hangupCause, l.hangupBy]),
        [
          [c.id('A'), 'inbound', null, 'alice', iso(T0), iso(T0 + 110), iso(T0 + 3120), iso(T0 + 63_110), 'normal', 'switch'],
          [c.id('B'), 'outbound', 'bob', 'bob', iso(T0 + 50), iso(T0 + 100), iso(T0 + 3100), iso(T0 + 63_100), 'normal', 'callee'],
        ],
      );
      assert.deepEqual(legs[0]!.from, { user: 'alice', host: '127.0.0.1', uri: 'sip:alice@127.0.0.1' });
      assert.deepEqual(
        log.map((l) => [l.level, l.message]),
        [['info', 'call alice -> bob']],
      );
    });

    test('busy call from a provider', async () => {
      const r = await recordOf((c) =>
        c
          .inbound('A', { from: '+4930123456', to: '+4940999', provider: 'trunk1', at: T0 })
          .dialplan('inbound', 1)
          .outbound('B', { from: '+4930123456', to: 'alice', target: 'alice', account: 'alice', at: T0 + 20 })
          .hangup('B', { at: T0 + 200, cause: 'busy', by: 'callee', sipStatus: 486 })
          .dialplanEnded('busy')
          .hangup('A', { at: T0 + 210, cause: 'busy', by: 'switch', sipStatus: 486 })
          .end(),
      );
      const { c, legs, log, recordings, ...fields } = r;
      assert.deepEqual(recordings, [], 'no recording was made');
      assert.deepEqual(fields, {
        callId: c.callId,
        direction: 'in',
        caller: '+4930123456',
        callee: '+4940999',
        dialled: ['alice'],
        account: 'alice',
        provider: 'trunk1',
        startedAt: iso(T0),
        ringingAt: null,
        answeredAt: null,
        endedAt: iso(T0 + 210),
        ringMs: null,
        talkMs: 0,
        status: 'busy',
        sipStatus: 486,
        hangupCause: 'busy',
        hangupBy: 'callee',
        dialplan: { name: 'inbound', version: 1, outcome: 'busy' },
      });
      assert.deepEqual(
        legs.map((l) => [l.sipStatus, l.hangupCause, l.hangupBy]),
        [
          [486, 'busy', 'switch'],
          [486, 'busy', 'callee'],
        ],
      );
      assert.deepEqual(log, []);
    });

    test('caller cancels while two parallel branches ring', async () => {
      const r = await recordOf((c) =>
        c
          .inbound('A', { from: 'alice', to: 'team', account: 'alice', at: T0 })
          .dialplan('default', 2, [['info', 'ringing bob & carol']])
          .outbound('B', { from: 'alice', to: 'bob', target: 'bob', account: 'bob', at: T0 + 10 })
          .outbound('C', { from: 'alice', to: 'carol', target: 'carol', account: 'carol', at: T0 + 11 })
          .ringing('C', T0 + 80)
          .ringing('B', T0 + 90)
          .ringing('A', T0 + 95)
          .hangup('A', { at: T0 + 5000, cause: 'cancelled', by: 'caller', sipStatus: 487 })
          .hangup('B', { at: T0 + 5004, cause: 'cancelled', by: 'switch', sipStatus: 487 })
          .hangup('C', { at: T0 + 5006, cause: 'cancelled', by: 'switch', sipStatus: 487 })
          .dialplanEnded('cancelled')
          .end(),
      );
      const { c, legs, log, recordings, ...fields } = r;
      assert.deepEqual(recordings, [], 'no recording was made');
      assert.deepEqual(fields, {
        callId: c.callId,
        direction: 'local',
        caller: 'alice',
        callee: 'team',
        dialled: ['bob', 'carol'],
        account: 'alice',
        provider: null,
        startedAt: iso(T0),
        ringingAt: iso(T0 + 80),
        answeredAt: null,
        endedAt: iso(T0 + 5006),
        ringMs: 4926,
        talkMs: 0,
        status: 'cancelled',
        sipStatus: 487,
        hangupCause: 'cancelled',
        hangupBy: 'caller',
        dialplan: { name: 'default', version: 2, outcome: 'cancelled' },
      });
      assert.deepEqual(
        legs.map((l) => [l.id, l.hangupCause, l.hangupBy, l.sipStatus]),
        [
          [c.id('A'), 'cancelled', 'caller', 487],
          [c.id('B'), 'cancelled', 'switch', 487],
          [c.id('C'), 'cancelled', 'switch', 487],
        ],
      );
      assert.equal(log.length, 1);
    });

    test('sequential fallback after a failure; the dialplan log is capped', async () => {
      const long = 'x'.repeat(600);
      const lines: Array<['info' | 'warn', string]> = [['warn', long], ...Array.from({ length: 104 }, (_, i): ['info', string] => ['info', `line ${i}`])];
      const r = await recordOf((c) =>
        c
          .inbound('A', { from: 'alice', to: '0301234', account: 'alice', at: T0 })
          .dialplan('default', 7, lines)
          .outbound('B', { from: 'alice', to: '0301234', target: '0301234@trunk', provider: 'trunk', at: T0 + 30 })
          .hangup('B', { at: T0 + 300, cause: 'unavailable', by: 'callee', sipStatus: 503 })
          .outbound('C', { from: 'alice', to: 'bob', target: 'bob', account: 'bob', at: T0 + 310 })
          .ringing('C', T0 + 400)
          .ringing('A', T0 + 405)
          .answered('C', T0 + 2400)
          .answered('A', T0 + 2410)
          .bridge('A', 'C')
          .dialplanEnded('bridged')
          .hangup('A', { at: T0 + 12_410, cause: 'normal', by: 'caller' })
          .hangup('C', { at: T0 + 12_420, cause: 'normal', by: 'switch' })
          .end(),
      );
      const { c, legs, log, recordings, ...fields } = r;
      assert.deepEqual(recordings, [], 'no recording was made');
      assert.deepEqual(fields, {
        callId: c.callId,
        direction: 'out',
        caller: 'alice',
        callee: '0301234',
        dialled: ['0301234@trunk', 'bob'],
        account: 'alice',
        provider: 'trunk',
        startedAt: iso(T0),
        ringingAt: iso(T0 + 400),
        answeredAt: iso(T0 + 2410),
        endedAt: iso(T0 + 12_420),
        ringMs: 2010,
        talkMs: 10_010,
        status: 'answered',
        sipStatus: 200,
        hangupCause: 'normal',
        hangupBy: 'caller',
        dialplan: { name: 'default', version: 7, outcome: 'bridged' },
      });
      assert.deepEqual(
        legs.map((l) => [l.target ?? null, l.sipStatus ?? null, l.hangupCause, l.hangupBy]),
        [
          [null, null, 'normal', 'caller'],
          ['0301234@trunk', 503, 'unavailable', 'callee'],
          ['bob', null, 'normal', 'switch'],
        ],
      );
      assert.equal(log.length, 101, '100 lines kept and a note');
      assert.equal(log[0]!.message.length, 500);
      assert.equal(log[0]!.level, 'warn');
      assert.equal(log[99]!.message, 'line 98');
      assert.deepEqual([log[100]!.level, log[100]!.message], ['warn', '5 more log lines not kept']);
      // The number filter finds it by a dialled target's user part.
      assert.equal((await api.get('/cdrs?number=0301234')).body.items[0].callId, c.callId);
    });

    test('an unknown or malformed id is 404', async () => {
      assert.equal((await api.get('/cdrs/0190b0c0-0000-7000-8000-000000000000')).status, 404);
      assert.equal((await api.get(`/cdrs/${'x'.repeat(100)}`)).status, 404);
    });
  });
}
