/**
 * Issue 13, "No header injection": values taken from an incoming message or a script and written
 * into an outgoing one (user parts, display names, provider templates filled with them, SIP URIs a
 * dialplan dials) reach the wire well-formed: no CR, LF or NUL, balanced quotes, and no `maddr` or
 * URI headers in a target. The callee is a hand-played phone, so the test reads the raw INVITE.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { autoAnswer, header, invite } from '../helpers/sipDialog.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { dialplanSource, newTenant } from './harness.ts';

/** The INVITE's header section as lines (the request line first). */
const headLines = (raw: string) => raw.split('\r\n\r\n')[0]!.split('\r\n');

/** What no outgoing header may carry, and no line a peer did not ask for. */
function assertWellFormed(raw: string): void {
  const head = raw.split('\r\n\r\n')[0]!;
  assert.doesNotMatch(head, /\0|\r(?!\n)|(?<!\r)\n/, 'no stray CR, LF or NUL in the head');
  for (const line of headLines(raw).slice(1)) {
    assert.match(line, /^[A-Za-z][A-Za-z0-9-]*\s*:/, `a header line, not injected text: ${JSON.stringify(line)}`);
    assert.doesNotMatch(line, /^X-Injected/i, `an injected header: ${line}`);
    const name = line.split(':')[0]!.toLowerCase();
    if (name === 'from' || name === 'to') {
      const quotes = line.replace(/\\./g, '').split('"').length - 1;
      assert.equal(quotes % 2, 0, `balanced quotes in ${line}`);
    }
  }
}

/** A stranger's INVITE with the From header exactly as given; resolves with the final response. */
const inviteFrom = (phone: TestPhone, uri: string, from: string) => invite(phone, { uri, fromHeader: from });

describe('what reaches the wire is well-formed (sqlite)', () => {
  let sw: TestSwitch;
  const closers: Array<() => void> = [];
  before(async () => {
    sw = await startTestSwitch('sqlite');
  });
  after(async () => {
    for (const c of closers) c();
    await sw.close();
  });

  async function answering(party: string) {
    const phone = await TestPhone.open('udp', sw.sipPort);
    const a = autoAnswer(phone, party);
    closers.push(a.stop, () => phone.close());
    return { phone, invites: a.invites };
  }

  async function stranger(): Promise<TestPhone> {
    const p = await TestPhone.open('udp', sw.sipPort);
    closers.push(() => p.close());
    return p;
  }

  const cases = [
    { what: 'an escaped CR LF in the user part', from: '<sip:evil%0D%0AX-Injected:%20yes@example.net>' },
    { what: 'an escaped NUL in the user part', from: '<sip:nul%00user@example.net>' },
    { what: 'escaped quotes and a backslash in the display name', from: '"Evil \\"quoted\\" \\\\" <sip:quotes@example.net>' },
    { what: 'an escaped CR LF inside a quoted display name', from: '"Evil %0D%0AX-Injected: 1" <sip:display@example.net>' },
  ];

  test("the caller's user part and display name reach a phone escaped, and the call still connects", async () => {
    const t = await newTenant(sw);
    const alice = await t.account();
    const callee = await answering('alice');
    assert.equal((await callee.phone.register({ user: alice.username, password: alice.password })).final.status, 200);
    const caller = await stranger();
    for (const c of cases) {
      const final = await inviteFrom(caller, `sip:${alice.username}@127.0.0.1:${sw.sipPort}`, c.from);
      assert.match(final, /^SIP\/2\.0 200 /, `${c.what}: answered`);
      const delivered = callee.invites.at(-1)!;
      assertWellFormed(delivered);
    }
    const first = callee.invites.at(-cases.length)!;
    assert.match(header(first, 'From')!, /<sip:evil%0D%0AX-Injected@/i, 'the user part stays escaped as it arrived');
  });

  test("a provider's templates filled with the caller's values stay one well-formed line each", async () => {
    const t = await newTenant(sw);
    const carrier = await answering('carrier');
    const r = await t.api.post('/providers', {
      name: 'trunk',
      host: '127.0.0.1',
      port: carrier.phone.localPort,
      fromDisplay: '{callerName}',
      headers: { 'X-Caller': '{caller} {callerName}' },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const alice = await t.account();
    await t.dialplan('out', dialplanSource(`  await dial('030123456@trunk', { timeout: 5 });`));
    assert.equal((await t.api.patch(`/sip-accounts/${alice.id}`, { dialplanIn: 'out' })).status, 200);
    const caller = await stranger();
    for (const c of cases) {
      const final = await inviteFrom(caller, `sip:${alice.username}@127.0.0.1:${sw.sipPort}`, c.from);
      assert.match(final, /^SIP\/2\.0 200 /, `${c.what}: answered through the provider`);
      assertWellFormed(carrier.invites.at(-1)!);
    }
  });

  test('a SIP URI a dialplan dials loses maddr and its URI headers', async () => {
    const t = await newTenant(sw);
    const target = await answering('target');
    const alice = await t.account();
    const uri = `sip:bob@127.0.0.1:${target.phone.localPort};maddr=127.0.0.9;transport=udp?X-Injected=1&Route=%3Csip:127.0.0.9%3E`;
    // The structured form: in a dial string `&` would start a parallel leg.
    await t.dialplan('out', dialplanSource(`  await dial([{ uri: ${JSON.stringify(uri)} }], { timeout: 5 });`));
    assert.equal((await t.api.patch(`/sip-accounts/${alice.id}`, { dialplanIn: 'out' })).status, 200);
    const final = await inviteFrom(await stranger(), `sip:${alice.username}@127.0.0.1:${sw.sipPort}`, '<sip:someone@example.net>');
    assert.match(final, /^SIP\/2\.0 200 /);
    const delivered = target.invites.at(-1)!;
    assertWellFormed(delivered);
    const requestLine = headLines(delivered)[0]!;
    assert.equal(requestLine, `INVITE sip:bob@127.0.0.1:${target.phone.localPort};transport=udp SIP/2.0`);
    assert.doesNotMatch(header(delivered, 'To')!, /maddr|\?/);
    assert.equal(header(delivered, 'Route'), undefined);
  });
});
