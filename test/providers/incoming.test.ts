/**
 * Calls arriving from providers: sipp plays the provider and sends an INVITE to the Contact the
 * switch gives a provider entry (its `;line=` token), or from an address the entry lists. Each test
 * checks whose dialplan ran with what facts, which tenant's phone rang, and whose records hold the
 * call.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TestPhone } from '../helpers/sipPhone.ts';
import { skipWithout, waitFor } from '../interop/tools.ts';
import {
  assertSippOk,
  authRow,
  bodyOf,
  callSuite,
  dialplanSource,
  flowOf,
  headerOf,
  recordOf,
  scenario,
  startSipp,
  type EventLog,
  type SippPeer,
  type Tenant,
} from '../calls/harness.ts';

const noSipp = skipWithout('sipp', 'sip-tester');

const DID = '4930555000';
const PSTN_CALLER = '4915112345';
const SDP = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n';

interface ProviderView {
  id: string;
  name: string;
  contactUri: string;
}

async function createProvider(t: Tenant, body: Record<string, unknown>): Promise<ProviderView> {
  const r = await t.api.post('/providers', { name: 'acme', host: '127.0.0.1', port: 5070, ...body });
  assert.equal(r.status, 201, `POST /providers: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** A dialplan that logs what it was told about the call and rings `account` only for `provider`'s calls. */
const routeFrom = (provider: string, account: string) =>
  dialplanSource(`  log('in: direction=' + call.direction + ' provider=' + call.provider + ' to=' + call.to.user + ' from=' + call.from.user);
  if (call.direction !== 'in' || call.provider !== '${provider}') return respond(403, 'Not From ${provider}');
  const r = await dial('${account}', { timeout: 10 });
  log('dial ' + r.result);`);

describe('calls in from providers (sqlite)', { skip: noSipp, timeout: 60_000 }, () => {
  const suite = callSuite();

  /** The provider delivering a call for DID to `ruri`. */
  const providerCalls = async (ruri: string) =>
    suite.track(
      await startSipp({
        dir: suite.dir,
        name: 'provider',
        scenario: scenario('provider_uac_call.xml'),
        remote: suite.remote(),
        keys: { ruri, did: DID, caller: PSTN_CALLER, party: 'pstn' },
        pauseMs: 800,
      }),
    );

  /** Runs one delivered call to its end and checks the provider's and the phone's sides. */
  async function deliveredTo(ruri: string, phone: SippPeer): Promise<void> {
    const call = await providerCalls(ruri);
    const [c, ph] = await Promise.all([call.done, phone.done]);
    assertSippOk({ provider: c, phone: ph });
    assert.deepEqual(flowOf(c.messages), ['>INVITE', '<100', '<180', '<200', '>ACK', '>BYE', '<200']);
    assert.deepEqual(flowOf(ph.messages), ['<INVITE', '>180', '>200', '<ACK', '<BYE', '>200']);
    assert.match(bodyOf(ph.messages.find((m) => m.kind === 'INVITE')!), /o=pstn /, "the provider's offer reached the phone");
    assert.match(
      headerOf(
        ph.messages.find((m) => m.kind === 'INVITE')!,
        'From',
      )!,
      new RegExp(`<sip:${PSTN_CALLER}@`),
      'the phone sees the calling number',
    );
  }

  test("a call to the entry's Contact (line token) runs that provider's dialplan as direction 'in' and rings a phone", async () => {
    const { t, log } = await suite.tenantWithLog();
    const bob = await t.account();
    await t.dialplan('from-acme', routeFrom('acme', bob.username));
    const acme = await createProvider(t, { username: 'line-4711', dialplan: 'from-acme' });
    assert.match(acme.contactUri, new RegExp(`^sip:line-4711@127\\.0\\.0\\.1:${suite.sw.sipPort};line=[A-Za-z0-9_-]{8,}$`));

    const phone = await suite.uas(bob, 'uas_answer.xml', { party: 'bob' });
    await deliveredTo(acme.contactUri, phone);

    await log.ended();
    log.assertWellFormed();
    log.assertInOrder([
      'channel.created A',
      'dialplan.started from-acme',
      `dialplan.log in: direction=in provider=acme to=${DID} from=${PSTN_CALLER}`,
      'channel.created B',
      'channel.state A up',
      'dialplan.log dial answered',
      'dialplan.ended completed',
      'channel.hungup A normal caller',
      'call.ended',
    ]);
    const inbound = log.ofType('channel.created')[0]!.channel;
    assert.equal(inbound.provider, 'acme');
    assert.equal(inbound.account, undefined);

    const cdr = await recordOf(suite.sw, t, log.events[0]!.callId);
    assert.equal(cdr.status, 'answered');
    assert.equal(cdr.direction, 'in');
    assert.equal(cdr.provider, 'acme');
    assert.equal(cdr.caller, PSTN_CALLER);
    assert.equal(cdr.callee, DID);
    assert.deepEqual(cdr.dialled, [bob.username]);
    assert.deepEqual(cdr.dialplan, { name: 'from-acme', version: 1, outcome: 'completed' });
  });

  test("two tenants' entries at the same provider: each line token lands at its own tenant", async () => {
    const tenants: Array<{ t: Tenant; log: EventLog; contactUri: string; phone: SippPeer }> = [];
    for (const party of ['phone-a', 'phone-b']) {
      const { t, log } = await suite.tenantWithLog();
      const phoneAccount = await t.account();
      await t.dialplan('default', routeFrom('shared', phoneAccount.username));
      // The same provider, host, port and username for both: only the line token differs.
      const p = await createProvider(t, { name: 'shared', username: 'trunk' });
      tenants.push({ t, log, contactUri: p.contactUri, phone: await suite.uas(phoneAccount, 'uas_answer.xml', { party }) });
    }
    const [a, b] = tenants as [(typeof tenants)[0], (typeof tenants)[0]];
    assert.notEqual(a.contactUri, b.contactUri);
    assert.equal(a.contactUri.replace(/;line=.*$/, ''), b.contactUri.replace(/;line=.*$/, ''));

    await deliveredTo(a.contactUri, a.phone);
    await a.log.ended();
    await deliveredTo(b.contactUri, b.phone);
    await b.log.ended();

    for (const [mine, other] of [
      [a, b],
      [b, a],
    ] as const) {
      mine.log.assertWellFormed();
      mine.log.assertInOrder([`dialplan.log in: direction=in provider=shared to=${DID} from=${PSTN_CALLER}`, 'dialplan.log dial answered', 'call.ended']);
      const callId = mine.log.events[0]!.callId;
      assert.ok(!other.log.events.some((e) => e.callId === callId), "the other tenant's events do not show the call");
      const cdr = await recordOf(suite.sw, mine.t, callId);
      assert.equal(cdr.provider, 'shared');
      const list = await mine.t.api.get('/cdrs?limit=50');
      assert.deepEqual(
        list.body.items.map((i: { callId: string }) => i.callId),
        [callId],
        'each tenant lists its own call, and only that',
      );
    }
  });

  test('an unknown line token, or the token of a disabled entry, is answered 404', async () => {
    const { t, log } = await suite.tenantWithLog();
    const acme = await createProvider(t, { username: 'line-9' });
    const provider = await TestPhone.open('udp', suite.sw.sipPort);
    try {
      const invite = (uri: string) =>
        provider.request({
          method: 'INVITE',
          uri,
          to: `sip:${DID}@provider.example`,
          from: `sip:${PSTN_CALLER}@provider.example`,
          headers: [`Contact: <sip:p@127.0.0.1:${provider.localPort}>`, 'Content-Type: application/sdp'],
          body: SDP,
        });
      const unknown = await invite(acme.contactUri.replace(/;line=.*$/, ';line=NoSuchLine0123'));
      assert.equal(unknown.status, 404);
      assert.equal((await t.api.patch(`/providers/${acme.id}`, { enabled: false })).status, 200);
      const disabled = await invite(acme.contactUri);
      assert.equal(disabled.status, 404);
    } finally {
      provider.close();
    }
    assert.deepEqual(log.events, [], 'no call was started');
  });

  test('an entry known by its source address: its dialplan runs for calls from there, but phones and calls to other tenants stay theirs', async () => {
    const { t, log } = await suite.tenantWithLog();
    const carol = await t.account();
    await t.dialplan('from-ip', routeFrom('ip-trunk', carol.username));
    // The source address only vouches for the number the entry holds: that is what names the tenant.
    const ipTrunk = await createProvider(t, { name: 'ip-trunk', sourceAddresses: ['127.0.0.1'], numbers: [DID], dialplan: 'from-ip' });
    try {
      // The provider sends to the switch's address with the number, no line token.
      const phone = await suite.uas(carol, 'uas_answer.xml', { party: 'carol' });
      await deliveredTo(`sip:${DID}@127.0.0.1:${suite.sw.sipPort}`, phone);
      await log.ended();
      log.assertWellFormed();
      log.assertInOrder(['dialplan.started from-ip', `dialplan.log in: direction=in provider=ip-trunk to=${DID} from=${PSTN_CALLER}`, 'dialplan.log dial answered', 'call.ended']);
      const cdr = await recordOf(suite.sw, t, log.events[0]!.callId);
      assert.equal(cdr.direction, 'in');
      assert.equal(cdr.provider, 'ip-trunk');

      // Another tenant's phone on the same address is still a phone: challenged, its own dialplan.
      const other = await suite.tenantWithLog();
      const dave = await other.t.account();
      await other.t.dialplan('default', dialplanSource(`  log('own dialplan: ' + call.direction + ' ' + call.account);\n  await respond(403, 'Forbidden');`));
      const phoneCall = suite.track(
        await startSipp({
          dir: suite.dir,
          name: 'dave',
          scenario: scenario('provider_uac_phone_refused.xml'),
          remote: suite.remote(),
          service: DID,
          inf: [authRow(dave)],
          keys: { party: 'dave' },
        }),
      );
      const pc = await phoneCall.done;
      assertSippOk({ 'phone of another tenant': pc });
      assert.deepEqual(flowOf(pc.messages), ['>INVITE', '<407', '>ACK', '>INVITE', '<100', '<403', '>ACK']);
      await other.log.ended();
      other.log.assertInOrder(['dialplan.started default', `dialplan.log own dialplan: out ${dave.username}`, 'call.ended']);

      // A stranger calling another tenant's account from that address reaches that account.
      const erin = await other.t.account();
      const stranger = await TestPhone.open('udp', suite.sw.sipPort);
      try {
        const r = await stranger.request(
          {
            method: 'INVITE',
            uri: `sip:${erin.username}@127.0.0.1`,
            to: `sip:${erin.username}@127.0.0.1`,
            from: 'sip:stranger@example.net',
            headers: [`Contact: <sip:s@127.0.0.1:${stranger.localPort}>`, 'Content-Type: application/sdp'],
            body: SDP,
          },
          8000,
        );
        assert.equal(r.status, 480, 'an account without phones: unavailable');
      } finally {
        stranger.close();
      }
      await waitFor("the stranger's call in erin's tenant", 3000, async () => (new Set(other.log.events.map((e) => e.callId)).size === 2 ? true : undefined));
      const calls = new Set(log.events.map((e) => e.callId));
      assert.equal(calls.size, 1, `the source-address entry's tenant saw only its provider's call:\n${log.summary().join('\n')}`);
    } finally {
      assert.equal((await t.api.delete(`/providers/${ipTrunk.id}`)).status, 204);
    }
  });
});
