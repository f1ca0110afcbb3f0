/**
 * International destinations are off until the tenant turns them on (DESIGN.md toll-fraud
 * defaults). A phone's dialplan sends every number to its provider; the numbers are read in the
 * tenant's home country. Each test checks what the caller was told, what reached the provider
 * (a sipp UAS, or a bare socket that must stay silent), what the tenant's call log says and the
 * record.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { describe, test } from 'node:test';
import { skipWithout } from '../interop/tools.ts';
import { assertSippOk, authRow, callSuite, dialplanSource, flowOf, recordOf, scenario, startSipp, type SippMessage, type Tenant } from '../calls/harness.ts';

const noSipp = skipWithout('sipp', 'sip-tester');

const ABROAD = '00442071234567'; // London, as dialled from Germany
const AT_HOME = '0301234567'; // Berlin

const requestLine = (m: SippMessage) => m.text.split(/\r?\n/, 1)[0];

describe('international calls through providers (sqlite)', { skip: noSipp, timeout: 60_000 }, () => {
  const suite = callSuite();

  /** A tenant at home in Germany whose dialplan sends the called number to its provider `trunk` at `port`. */
  async function germanTenant(port: number): Promise<{ t: Tenant; log: Awaited<ReturnType<typeof suite.tenantWithLog>>['log'] }> {
    const { t, log } = await suite.tenantWithLog();
    const settings = await t.api.patch('/settings', { country: 'de' });
    assert.equal(settings.status, 200, JSON.stringify(settings.body));
    assert.equal(settings.body.country, 'DE');
    assert.equal(settings.body.internationalCalls, false, 'a new tenant has international calls off');
    const p = await t.api.post('/providers', { name: 'trunk', host: '127.0.0.1', port });
    assert.equal(p.status, 201, JSON.stringify(p.body));
    await t.dialplan('default', dialplanSource(`  const r = await dial(call.to.user + '@trunk', { timeout: 10 });\n  log('dial ' + r.result);`));
    return { t, log };
  }

  const phoneCalls = async (t: Tenant, number: string, file: string) =>
    suite.track(
      await startSipp({
        dir: suite.dir,
        name: 'phone',
        scenario: scenario(file),
        remote: suite.remote(),
        service: number,
        inf: [authRow(await t.account())],
        keys: { party: 'alice' },
        pauseMs: 500,
      }),
    );

  test('a number abroad is refused with 403 while international calls are off, and the provider never hears of it', async () => {
    const provider = dgram.createSocket('udp4');
    const heard: string[] = [];
    provider.on('message', (m) => heard.push(m.toString('latin1')));
    await new Promise<void>((r) => provider.bind(0, '127.0.0.1', () => r()));
    try {
      const { t, log } = await germanTenant(provider.address().port);
      const phone = await phoneCalls(t, ABROAD, 'provider_uac_phone_refused.xml');
      const c = await phone.done;
      assertSippOk({ phone: c });
      assert.deepEqual(
        flowOf(c.messages).filter((k) => k !== '<100'),
        ['>INVITE', '<407', '>ACK', '>INVITE', '<403', '>ACK'],
      );

      await log.ended();
      log.assertWellFormed();
      const lines = log.ofType('dialplan.log').map((e) => `${e.level} ${e.message}`);
      assert.deepEqual(lines, [`warn ${ABROAD}@trunk: ${ABROAD} is outside DE and international calls are off; turn them on in Settings`, 'info dial rejected:403']);
      assert.equal(log.ofType('channel.created').length, 1, 'no outbound channel was created');
      assert.deepEqual(heard, [], 'nothing was sent to the provider');
      assert.match(await (await fetch(`${suite.sw.httpUrl}/metrics`)).text(), /calls_refused_total\{limit="international"\} 1\n/);

      const cdr = await recordOf(suite.sw, t, log.events[0]!.callId);
      assert.equal(cdr.status, 'failed');
      assert.equal(cdr.sipStatus, 403);
      assert.equal(cdr.direction, 'out', 'a call abroad the guard refused is still a call out, not a local one');
      assert.deepEqual(cdr.dialled, [], 'no leg was placed');
      assert.ok(
        cdr.log.some((l: { level: string; message: string }) => l.level === 'warn' && l.message.includes('international calls are off')),
        `the record keeps why: ${JSON.stringify(cdr.log)}`,
      );
    } finally {
      provider.close();
    }
  });

  for (const [name, number, enable] of [
    ['a number at home goes out while international calls are off', AT_HOME, false],
    ['once the tenant turns international calls on, a number abroad goes out', ABROAD, true],
  ] as const) {
    test(name, async () => {
      const provider = suite.track(await startSipp({ dir: suite.dir, name: 'trunk', scenario: scenario('uas_answer.xml'), keys: { party: 'trunk' } }));
      const { t, log } = await germanTenant(provider.port);
      if (enable) {
        const r = await t.api.patch('/settings', { internationalCalls: true });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.equal(r.body.internationalCalls, true);
      }
      const phone = await phoneCalls(t, number, 'uac_auth_call.xml');
      const [c, p] = await Promise.all([phone.done, provider.done]);
      assertSippOk({ phone: c, provider: p });
      assert.equal(requestLine(p.messages.find((m) => m.dir === 'received' && m.kind === 'INVITE')!), `INVITE sip:${number}@127.0.0.1:${provider.port} SIP/2.0`);
      await log.ended();
      assert.deepEqual(
        log.ofType('dialplan.log').map((e) => e.message),
        ['dial answered'],
      );
      const cdr = await recordOf(suite.sw, t, log.events[0]!.callId);
      assert.equal(cdr.status, 'answered');
    });
  }

  test('the home country must be one the switch knows; international calls must be true or false', async () => {
    const { t } = await suite.tenantWithLog();
    for (const [body, field] of [
      [{ country: 'XX' }, 'country'],
      [{ country: 'Germany' }, 'country'],
      [{ internationalCalls: 'yes' }, 'internationalCalls'],
    ] as const) {
      const r = await t.api.patch('/settings', body);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.match(JSON.stringify(r.body), new RegExp(field));
    }
    const cleared = await t.api.patch('/settings', { country: null });
    assert.equal(cleared.status, 200);
    assert.equal(cleared.body.country, null);
  });
});
