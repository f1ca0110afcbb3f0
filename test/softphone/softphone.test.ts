/**
 * The portal's softphone (issue 18), in Chromium with fake media (its microphone a 440 Hz tone)
 * against a baresip phone (880 Hz) through a switch with rtpengine and ICE_CANDIDATE_ALLOW on
 * loopback, so the browser's other candidates never reach the relay (only loopback is used).
 *
 * - baresip calls the softphone's account while the portal shows another page: the banner rings
 *   there, Answer connects, both hear each other (the page's WebRTC statistics; baresip's
 *   recording holds the browser's tone), the keypad sends RFC 4733 DTMF (baresip reports the
 *   events it received), and Hang up on the page
 *   ends the call and closes its record.
 * - the softphone dials baresip's extension: the call connects, both hear each other, the page
 *   shows the state and a running timer; mute, hold and resume, a blind transfer.
 * - the portal's own content security policy lets the page open the SIP WebSocket.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ensurePortalBuilt } from '../../web/scripts/ensureBuilt.ts';
import { seriousViolations } from '../helpers/axe.ts';
import { noChromium } from '../helpers/chromium.ts';
import { STRONG_PASSWORD } from '../helpers/api.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { eventually } from '../helpers/time.ts';
import { assertPageHears, assertPhoneHears, RECORD_PEER_CONNECTIONS, registeredPhone as registeredBaresip, webrtcChromium } from '../helpers/webrtc.ts';
import { skipWithout } from '../interop/tools.ts';
import { dialplanSource, EventLog, newTenant, recordOf, type Account, type Tenant } from '../calls/harness.ts';
import { skipEngine } from '../media/engines.ts';

const BROWSER_HZ = 440;
const PHONE_HZ = 880;
const skip = skipWithout('baresip', 'baresip') || noChromium || skipEngine('rtpengine');

/** Every peer connection the page makes, for its statistics (JsSIP's own stay private). */
describe('the portal softphone [chromium, baresip, rtpengine]', { skip, timeout: 180_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sipswitch-softphone-'));
  const cleanups: Array<() => Promise<unknown>> = [];
  const problems: string[] = [];
  let sw: TestSwitch;
  let tenant: Tenant;
  let email: string;
  let browser: Browser;

  before(async () => {
    await ensurePortalBuilt();
    sw = await startTestSwitch('sqlite', { env: { MEDIA_ENGINE: 'rtpengine', ICE_CANDIDATE_ALLOW: '127.0.0.0/8' } });
    cleanups.push(() => sw.close());
    tenant = await newTenant(sw);
    email = (await tenant.api.get('/me')).body.user.email as string;
    await tenant.dialplan('default', dialplanSource("  await dial(call.to.user, { timeout: 15, transfer: 'phones' });"));
    browser = await webrtcChromium(dir, BROWSER_HZ);
    cleanups.push(() => browser.close());
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(problems, [], 'no errors in the page');
  });

  /** A logged-in portal page (axe-core needs the policy bypassed: `bypassCSP`). */
  async function portal(bypassCSP: boolean): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ baseURL: sw.httpUrl, bypassCSP, permissions: ['microphone'] });
    context.setDefaultTimeout(15_000);
    cleanups.push(() => context.close());
    await context.addInitScript(RECORD_PEER_CONNECTIONS);
    const login = await context.request.post('/api/v1/auth/login', { data: { email, password: STRONG_PASSWORD } });
    assert.equal(login.status(), 200, await login.text());
    const page = await context.newPage();
    page.on('pageerror', (err) => problems.push(`page error: ${err.stack ?? err.message}`));
    return { context, page };
  }

  /** The softphone page, connected as `account`. */
  async function connectAs(page: Page, account: Account): Promise<void> {
    await page.goto('/softphone');
    await page.getByRole('heading', { name: 'Softphone', level: 1 }).waitFor();
    await page.getByLabel('SIP account').selectOption(account.id);
    await page.getByRole('button', { name: 'Connect' }).click();
    await page.getByRole('status').filter({ hasText: 'Connected: calls to this account ring here' }).waitFor({ timeout: 15_000 });
  }

  const registeredPhone = (name: string, hz: number) => registeredBaresip({ tenant, dir, sipPort: sw.sipPort, name, hz, cleanups });

  function callIdOf(log: EventLog): string {
    const id = log.events.find((e) => e.type === 'channel.created')?.callId;
    assert.ok(id, 'the call was seen');
    return id;
  }

  test('the portal policy lets the page open the SIP WebSocket and register', async () => {
    const account = await tenant.account();
    const { page } = await portal(false);
    await connectAs(page, account);
    const items = (await tenant.api.get('/registrations')).body.items as Array<{ username: string; transport?: string }>;
    assert.ok(items.some((r) => r.username === account.username));
    await page.getByRole('button', { name: 'Disconnect' }).click();
    await page.getByRole('status').filter({ hasText: 'Not connected' }).waitFor();
  });

  test('a phone calls the softphone: it rings on another page, is answered there, both hear each other, keypad, hang up from the page', async () => {
    const { phone: carol } = await registeredPhone('carol', PHONE_HZ);
    const alice = await tenant.account();
    const { page } = await portal(true);
    await connectAs(page, alice);
    assert.deepEqual(await seriousViolations(page), [], 'the connected softphone page passes axe-core');
    // Another page, reached inside the app: the phone stays connected.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Call records' }).click();
    await page.getByRole('heading', { level: 1, name: 'Call records' }).waitFor();

    const log = new EventLog(sw, tenant.id);
    cleanups.push(async () => log.stop());
    assert.ok((await carol.command('dial', `sip:${alice.username}@127.0.0.1`)).ok);
    const ringing = page.getByRole('region', { name: 'Incoming call' });
    await ringing.waitFor({ timeout: 15_000 }).catch(async (err: Error) => {
      throw new Error(`${err.message}\nevents:\n${log.summary().join('\n')}\npage: ${await page.locator('main').innerText()}\n${carol.output().slice(-1500)}`);
    });
    assert.match(await ringing.innerText(), /Incoming call/);
    assert.deepEqual(await seriousViolations(page), [], 'the ringing banner passes axe-core');
    await ringing.getByRole('button', { name: 'Answer' }).click();
    const inProgress = page.getByRole('region', { name: 'Call in progress' });
    await inProgress.waitFor();
    assert.match(await inProgress.innerText(), /Connected/);

    await assertPageHears(page, carol);
    await assertPhoneHears(carol, BROWSER_HZ);

    await inProgress.getByRole('link', { name: 'Open the phone' }).click();
    await page.getByRole('heading', { level: 1, name: 'Softphone' }).waitFor();
    assert.match(await page.getByRole('status', { name: 'Call state' }).innerText(), /Connected from/);
    const keypad = page.getByRole('group', { name: 'Keypad' });
    for (const k of ['5', '#']) {
      await keypad.getByRole('button', { name: `Key ${k}` }).click();
      await page.waitForTimeout(400);
    }
    assert.equal(await page.getByTestId('digits-sent').innerText(), '5#');
    // baresip reports the RFC 4733 events it receives in the audio.
    await eventually('carol received the keys as RFC 4733 events', () => /received event: '5' \(end=1\)[\s\S]*received event: '#' \(end=1\)/.test(carol.output()), 10_000, 200);
    assert.deepEqual(await seriousViolations(page), [], 'the softphone page in a call passes axe-core');

    await page.getByRole('button', { name: 'Hang up' }).click();
    await log.ended();
    await page.getByRole('status', { name: 'Call state' }).filter({ hasText: 'Call ended' }).waitFor();
    const record = await recordOf(sw, tenant, callIdOf(log));
    assert.ok(record.endedAt, 'the record is closed');
    assert.equal(record.answeredAt !== null, true, 'the record says it was answered');
  });

  test('the softphone calls the phone by its extension: connected, both hear each other, timer running, mute, hold and resume, blind transfer', async () => {
    const { phone: dave, account } = await registeredPhone('dave', PHONE_HZ);
    const extension = (await tenant.api.get(`/sip-accounts/${account.id}`)).body.extension as string;
    const bob = await tenant.account();
    const { page } = await portal(false);
    await connectAs(page, bob);
    const log = new EventLog(sw, tenant.id);
    cleanups.push(async () => log.stop());
    await page.getByLabel('Number or extension').fill(extension);
    await page.getByRole('button', { name: 'Call', exact: true }).click();
    const state = page.getByRole('status', { name: 'Call state' });
    await state.filter({ hasText: 'Connected' }).waitFor({ timeout: 15_000 });
    assert.match(await state.innerText(), new RegExp(`Connected to .*${extension}|Connected to`));
    await assertPageHears(page, dave);
    await assertPhoneHears(dave, BROWSER_HZ);
    const timer = page.getByTestId('call-timer');
    const first = await timer.innerText();
    assert.match(first, /^\d\d:\d\d$/);
    await page.waitForTimeout(2100);
    assert.notEqual(await timer.innerText(), first, 'the timer runs');

    const mute = page.getByRole('button', { name: 'Mute', exact: true });
    await mute.click();
    await page.getByRole('button', { name: 'Unmute', pressed: true }).waitFor();
    assert.match(await state.innerText(), /muted/);
    await page.getByRole('button', { name: 'Unmute' }).click();
    await page.getByRole('button', { name: 'Mute', exact: true, pressed: false }).waitFor();

    // Hold is a re-INVITE through the switch: shown once the other end has agreed.
    await page.getByRole('button', { name: 'Hold' }).click();
    await state.filter({ hasText: 'on hold' }).waitFor();
    await page.getByRole('button', { name: 'Resume', pressed: true }).click();
    await page.getByRole('button', { name: 'Hold', pressed: false }).waitFor();
    assert.doesNotMatch(await state.innerText(), /on hold/);

    // Blind transfer (REFER): dave ends up talking to erin, the page's call ends.
    const { phone: erin, account: erinAccount } = await registeredPhone('erin', PHONE_HZ);
    const erinExtension = (await tenant.api.get(`/sip-accounts/${erinAccount.id}`)).body.extension as string;
    await page.getByLabel('Transfer to').fill(erinExtension);
    await page.getByRole('button', { name: 'Transfer', exact: true }).click();
    await state
      .filter({ hasText: 'Call ended' })
      .waitFor({ timeout: 15_000 })
      .catch(async (err: Error) => {
        throw new Error(`${err.message}\nevents:\n${log.summary().join('\n')}\n${await page.locator('main').innerText()}\n${erin.output().slice(-1500)}`);
      });
    assert.match(await page.getByRole('status', { name: 'Transfer' }).innerText(), new RegExp(`Transferred to ${erinExtension}`));
    await eventually('erin answered the transferred call', () => /Call established/.test(erin.output()), 15_000, 200);
    assert.ok((await dave.command('hangup')).ok);
    await log.ended();
    const record = await recordOf(sw, tenant, callIdOf(log));
    assert.ok(record.endedAt);
  });
});
