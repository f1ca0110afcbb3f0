/**
 * The admission steps of a new INVITE, each alone: a real server transaction (its responses are
 * read back as they would go on the wire) and the narrow dependencies each step declares, played
 * by small fakes. The whole pipeline is exercised by the call tests over real sockets.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { identifyCaller } from '../../server/calls/admission/identifyCaller.ts';
import { identifyProvider } from '../../server/calls/admission/identifyProvider.ts';
import { applyCallLimits, limitUncredentialedInvites } from '../../server/calls/admission/limits.ts';
import { admit, newCallOf, type NewCall } from '../../server/calls/admission/newCall.ts';
import { refuseWhileDraining, stopLoops } from '../../server/calls/admission/serving.ts';
import { LocalCallBudgets } from '../../server/calls/callBudgets.ts';
import type { ProviderLookup } from '../../server/providers/incoming.ts';
import { parseHead, type SipRequest } from '../../server/sip/message.ts';
import { ServerTransaction, TransactionTable } from '../../server/sip/transactions.ts';
import type { Provider } from '../../server/store/providers.ts';
import type { SipAccount } from '../../server/store/sipAccounts.ts';

const log = pino({ level: 'silent' });
const DOMAIN = 'switch.test';

/** A new call for `head` from 127.0.0.1, with every response it gets, as status and reason. */
function incoming(head: string, source = '127.0.0.1'): { call: NewCall; answers: string[] } {
  const answers: string[] = [];
  const table = new TransactionTable(
    {
      send: (_peer, data) => answers.push(data.toString('utf8').split('\r\n')[0]!.replace('SIP/2.0 ', '')),
      onResponseSent: () => {},
      onUnserializable: () => answers.push('unserializable'),
    },
    { answerDeadlineMs: 10_000 },
  );
  const req = parseHead(
    head
      .trim()
      .split('\n')
      .map((l) => l.trim())
      .join('\r\n'),
    '',
  ) as SipRequest;
  const peer = { transport: 'udp' as const, address: source, port: 5099 };
  const tx = new ServerTransaction('key', req, peer, peer, undefined, table);
  table.add(tx);
  return { call: newCallOf(tx, DOMAIN, log), answers };
}

const INVITE = (o: { ruri?: string; from?: string; to?: string; extra?: string } = {}) => `
  INVITE ${o.ruri ?? 'sip:alice@switch.test'} SIP/2.0
  Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKadmission
  From: <${o.from ?? 'sip:stranger@example.net'}>;tag=1
  To: <${o.to ?? 'sip:alice@switch.test'}>
  Call-ID: admission@test
  CSeq: 1 INVITE
  Max-Forwards: 70${o.extra ? `\n${o.extra}` : ''}
`;

const account = (username: string, tenantId: string, enabled = true) =>
  ({ id: `id-${username}`, tenantId, username, enabled, dialplanIn: null, dialplanOut: null }) as unknown as SipAccount;
const provider = (o: Partial<Provider> & Pick<Provider, 'id' | 'tenantId'>) =>
  ({ name: o.id, enabled: true, sourceAddresses: [], numbers: [], dialplan: null, createdAt: 0, lineToken: `line-${o.id}`, ...o }) as Provider;

function directory(entries: Provider[]): ProviderLookup {
  return {
    byLineToken: async (token) => entries.find((p) => p.lineToken === token) ?? null,
    withSourceAddresses: async () => entries.filter((p) => p.enabled && p.sourceAddresses.length),
    byNumber: async (number) => entries.find((p) => p.numbers.includes(number)) ?? null,
  };
}

describe('admission steps, each alone', () => {
  test('stopLoops answers 483 when Max-Forwards is spent, and passes the call on otherwise', async () => {
    const spent = incoming(INVITE({ extra: 'Max-Forwards: 0' }).replace('Max-Forwards: 70\n', ''));
    assert.equal(await stopLoops(spent.call), true);
    assert.deepEqual(spent.answers, ['483 Too Many Hops']);
    const fine = incoming(INVITE());
    assert.equal(await stopLoops(fine.call), false);
    assert.deepEqual(fine.answers, []);
  });

  test('refuseWhileDraining answers 503 with Retry-After only while the node drains', async () => {
    let draining = false;
    const step = refuseWhileDraining(() => draining);
    const before = incoming(INVITE());
    assert.equal(await step(before.call), false);
    draining = true;
    const during = incoming(INVITE());
    assert.equal(await step(during.call), true);
    assert.deepEqual(during.answers, ['503 Shutting Down']);
  });

  test("identifyProvider: a line token names its entry; an unknown token is 404; the number called is To's", async () => {
    const acme = provider({ id: 'acme', tenantId: 't1' });
    const step = identifyProvider({ directory: directory([acme]), accountUnlessOutage: async () => null, account: async () => null, log });
    const byLine = incoming(INVITE({ ruri: 'sip:trunk@switch.test;line=line-acme', to: 'sip:4930123@carrier.test' }));
    assert.equal(await step(byLine.call), false);
    assert.equal(byLine.call.provider?.id, 'acme');
    assert.equal(byLine.call.calledUser, '4930123');
    const unknown = incoming(INVITE({ ruri: 'sip:trunk@switch.test;line=nope' }));
    assert.equal(await step(unknown.call), true);
    assert.deepEqual(unknown.answers, ['404 Unknown Line']);
  });

  test('identifyProvider: an address names no tenant by itself; a held number does; two tenants named is 403', async () => {
    const greedy = provider({ id: 'greedy', tenantId: 'attacker', sourceAddresses: ['127.0.0.0/16'] });
    const holder = provider({ id: 'holder', tenantId: 'victim', sourceAddresses: ['127.0.0.1'], numbers: ['4930555'] });
    const accounts = new Map([['alice', account('alice', 'owner')]]);
    const step = identifyProvider({ directory: directory([greedy, holder]), accountUnlessOutage: async () => null, account: async (u) => accounts.get(u) ?? null, log });

    const forNobody = incoming(INVITE({ ruri: 'sip:4930999@switch.test' }));
    assert.equal(await step(forNobody.call), false);
    assert.equal(forNobody.call.provider, undefined, 'listing the address is not enough');

    const forNumber = incoming(INVITE({ ruri: 'sip:4930555@switch.test' }));
    assert.equal(await step(forNumber.call), false);
    assert.equal(forNumber.call.provider?.id, 'holder');

    const notVouched = incoming(INVITE({ ruri: 'sip:4930555@switch.test' }), '127.0.0.9');
    assert.equal(await step(notVouched.call), false);
    assert.equal(notVouched.call.provider, undefined, "the number's own entry does not list that address");

    const both = incoming(INVITE({ ruri: 'sip:alice@switch.test', to: 'sip:4930555@carrier.test' }));
    assert.equal(await step(both.call), true);
    assert.deepEqual(both.answers, ['403 Ambiguous Destination']);
  });

  test('identifyProvider: a caller naming one of our accounts is a phone, whatever address it comes from', async () => {
    const entry = provider({ id: 'entry', tenantId: 't1', sourceAddresses: ['127.0.0.1'], numbers: ['4930555'] });
    const bob = account('bob', 't1');
    const step = identifyProvider({ directory: directory([entry]), accountUnlessOutage: async (u) => (u === 'bob' ? bob : null), account: async () => null, log });
    const fromPhone = incoming(INVITE({ ruri: 'sip:4930555@switch.test', from: 'sip:bob@switch.test' }));
    assert.equal(await step(fromPhone.call), false);
    assert.equal(fromPhone.call.claimsAccount, true);
    assert.equal(fromPhone.call.provider, undefined);
  });

  test("identifyCaller: a stranger to an account is that tenant's; a claimed account must authenticate (its challenge ends admission)", async () => {
    const challenged: string[] = [];
    const bob = account('bob', 't2');
    const step = identifyCaller({
      asProxy: async (tx, username) => {
        challenged.push(username);
        if (username === 'bob') return { account: bob, algorithm: 'MD5' };
        tx.respond(407);
        return undefined;
      },
    });
    const stranger = incoming(INVITE());
    stranger.call.addressed = account('alice', 't1');
    assert.equal(await step(stranger.call), false);
    assert.deepEqual([stranger.call.kind, stranger.call.tenantId, stranger.call.origin?.kind], ['stranger', 't1', 'to-account']);

    const disabled = incoming(INVITE());
    disabled.call.addressed = account('alice', 't1', false);
    assert.equal(await step(disabled.call), true, 'a disabled account takes no strangers: the caller must authenticate');
    assert.deepEqual(disabled.answers, ['407 Proxy Authentication Required']);

    const phone = incoming(INVITE({ from: 'sip:bob@switch.test' }));
    phone.call.claimsAccount = true;
    assert.equal(await step(phone.call), false);
    assert.deepEqual([phone.call.kind, phone.call.tenantId, phone.call.caller?.username], ['phone', 't2', 'bob']);
    assert.deepEqual(challenged, ['stranger', 'bob']);
  });

  test('limits: uncredentialed INVITEs per source, then the budget of the kind of caller; each refusal is 503 with Retry-After', async () => {
    const budgets = new LocalCallBudgets({ perTenant: 1, perMinute: 100, strangersPerTenant: 5, strangersPerSource: 1, invitesPerMinutePerSource: 2 });
    const counted: string[] = [];
    const counter = { inc: ({ limit }: { limit: string }) => void counted.push(limit) };
    // Credentials that prove the source (they answer a nonce given to that address) are the
    // brute-force guard's business; anything else counts, made-up credentials included.
    const proven = (tx: { request: SipRequest }) => JSON.stringify(tx.request.headers['proxy-authorization'] ?? null).includes('given');
    const perSource = limitUncredentialedInvites(budgets, proven, counter);
    const results: boolean[] = [];
    for (let i = 0; i < 3; i++) results.push(await perSource(incoming(INVITE(), '127.0.0.2').call));
    assert.deepEqual(results, [false, false, true]);
    const forged = incoming(INVITE({ extra: 'Proxy-Authorization: Digest username="bob", nonce="made-up"' }), '127.0.0.2');
    assert.equal(await perSource(forged.call), true, 'made-up credentials count like none');
    const credentialed = incoming(INVITE({ extra: 'Proxy-Authorization: Digest username="bob", nonce="given"' }), '127.0.0.2');
    assert.equal(await perSource(credentialed.call), false);

    const atOnce = applyCallLimits(budgets, counter);
    const first = incoming(INVITE(), '127.0.0.3');
    Object.assign(first.call, { kind: 'stranger', tenantId: 't1' });
    assert.equal(await atOnce(first.call), false);
    budgets.hold('stranger', 't1', '127.0.0.3');
    const second = incoming(INVITE(), '127.0.0.3');
    Object.assign(second.call, { kind: 'stranger', tenantId: 't1' });
    assert.equal(await atOnce(second.call), true);
    assert.deepEqual(second.answers, ['100 Trying', '503 Too Many Calls From This Address']);
    assert.deepEqual(counted, ['source-invites-per-minute', 'source-invites-per-minute', 'source-calls-at-once']);
  });

  test('admit runs the steps in order and stops at the first that answers', async () => {
    const ran: string[] = [];
    const step = (name: string, answers: boolean) => () => {
      ran.push(name);
      return answers;
    };
    assert.equal(await admit([step('a', false), step('b', true), step('c', false)], incoming(INVITE()).call), true);
    assert.deepEqual(ran, ['a', 'b']);
  });
});
