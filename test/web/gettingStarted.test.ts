/**
 * A new user's first call, walked in headless Chromium against a real switch (SQLite) with two
 * real phones (baresip): sign up, follow the dashboard's checklist to create a phone, set up a
 * phone with exactly what the portal's baresip guide shows, see it turn registered, create a second
 * phone, call its extension (101) from the first and see the checklist mark the test call done.
 * The time from opening the sign-up page to that mark is measured and printed (a script's time,
 * the floor of a person's). Every page on the way passes axe-core with no serious violations.
 * Screenshots land in test-artifacts/getting-started/ (git-ignored).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { type Browser, type Page } from 'playwright-core';
import { STARTER_DIALPLAN } from '../../contract/starterDialplan.ts';
import { ensurePortalBuilt } from '../../web/scripts/ensureBuilt.ts';
import { seriousViolations } from '../helpers/axe.ts';
import { startPhone, type Phone } from '../helpers/baresipPhone.ts';
import { launchChromium, noChromium } from '../helpers/chromium.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { skipWithout, waitFor } from '../interop/tools.ts';

const noBrowser = noChromium;
const noBaresip = skipWithout('baresip', 'baresip');
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/getting-started/', import.meta.url));
const PASSWORD = 'Plum-Orbit-Cascade-91';

describe('getting started: a new user to an answered test call (sqlite, baresip)', { skip: noBrowser || noBaresip, timeout: 180_000 }, () => {
  let sw: TestSwitch;
  let browser: Browser;
  let page: Page;
  const dir = mkdtempSync(path.join(tmpdir(), 'sipswitch-getting-started-'));
  const phones: Phone[] = [];
  const problems: string[] = [];
  const a11y: string[] = [];
  let shots = 0;
  const shot = (name: string) => page.screenshot({ path: `${ARTIFACTS}${String(++shots).padStart(2, '0')}-${name}.png`, fullPage: true });
  /** The page passes axe-core, and a screenshot of it is kept. */
  const look = async (name: string) => {
    for (const v of await seriousViolations(page)) a11y.push(`${name}: ${v}`);
    await shot(name);
  };

  before(async () => {
    await ensurePortalBuilt();
    mkdirSync(ARTIFACTS, { recursive: true });
    sw = await startTestSwitch('sqlite');
    browser = await launchChromium();
    // axe-core is added as a script of its own, which the portal's policy would refuse: the policy
    // itself is checked in test/e2e/portal.test.ts.
    const context = await browser.newContext({ baseURL: sw.httpUrl, viewport: { width: 1280, height: 900 }, locale: 'pt-PT', bypassCSP: true });
    context.setDefaultTimeout(15_000);
    page = await context.newPage();
    page.on('pageerror', (err) => problems.push(`page error: ${err.stack ?? err.message}`));
  });

  after(async () => {
    await Promise.all(
      phones.map(async (p) => {
        p.close();
        await p.stop();
      }),
    );
    await browser?.close();
    await sw?.close();
    if (!process.env.KEEP_TRACES) rmSync(dir, { recursive: true, force: true });
  });

  test('sign up, create and register a phone from the guide, call extension 101, all from the portal', async () => {
    const started = Date.now();
    const marks: Array<[string, number]> = [];
    const mark = (what: string) => marks.push([what, Date.now() - started]);

    await page.goto('/signup');
    await page.getByRole('heading', { name: 'Create your account' }).waitFor();
    const country = page.getByLabel('Home country');
    assert.equal(await country.inputValue(), 'PT', "the browser's country is preselected");
    const offered = await country.locator('option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    assert.ok(!offered.includes('BU') && !offered.includes('XK') && offered.includes('MM'), 'current codes only');
    assert.equal(new Set(offered).size, offered.length);
    await look('signup');
    await page.getByLabel('Email').fill(`first-call-${Date.now()}@example.com`);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Repeat the password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();

    const checklist = page.getByTestId('getting-started');
    const step = (key: string, done: 'yes' | 'no') => checklist.locator(`li[data-step="${key}"][data-done="${done}"]`);
    await step('phone', 'no').waitFor();
    mark('signed up');
    await look('dashboard-new');

    // A phone, from the checklist's link; the portal shows the baresip accounts line to use.
    const createPhone = async (username: string) => {
      await page.getByRole('button', { name: 'Create phone' }).waitFor();
      await page.getByLabel('Username').fill(username);
      await page.getByRole('button', { name: 'Create phone' }).click();
      await page.getByTestId('new-password').waitFor();
      await page.getByRole('tab', { name: 'baresip' }).click();
      const line = (await page.locator('[data-guide-field="accounts line"]').textContent())!.trim();
      const extension = (await page.locator('[data-setting="Extension"]').textContent())!.trim();
      return { line, extension };
    };
    await checklist.getByRole('link', { name: 'Create a phone' }).click();
    const alice = await createPhone('alice-desk');
    assert.equal(alice.extension, '100');
    assert.match(alice.line, new RegExp(`^<sip:alice-desk@127\\.0\\.0\\.1>;auth_pass=[A-Za-z2-9-]+;outbound="sip:127\\.0\\.0\\.1:${sw.sipPort};transport=udp";regint=300$`));
    const qr = await page.getByTestId('phone-qr').getAttribute('data-qr-text');
    assert.match(qr!, new RegExp(`^sip:alice-desk:[^@]+@127\\.0\\.0\\.1:${sw.sipPort};transport=udp$`));
    await look('phone-created');
    mark('first phone created');

    // The phone as a person would set it up: the line the guide shows, plus the phone's own choices.
    const deskPhone = await startPhone(dir, 'alice', alice.line, { answer: 'manual', outboundPort: sw.sipPort });
    phones.push(deskPhone);
    await page.getByTestId('registration-state').and(page.locator('[data-registered="yes"]')).waitFor();
    mark('first phone registered');
    await look('phone-registered');

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click();
    await step('registered', 'yes').waitFor();
    await step('testCall', 'no').waitFor();

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Phones' }).click();
    await page.getByRole('button', { name: 'New phone' }).click();
    const bob = await createPhone('bob-lobby');
    assert.equal(bob.extension, '101');
    const lobbyPhone = await startPhone(dir, 'bob', bob.line, { answer: 'auto', outboundPort: sw.sipPort });
    phones.push(lobbyPhone);
    await page.getByTestId('registration-state').and(page.locator('[data-registered="yes"]')).waitFor();
    mark('second phone registered');

    // The test call: the desk phone dials 101; the lobby phone answers by itself.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click();
    const dialled = await deskPhone.command('dial', 'sip:101@127.0.0.1');
    assert.ok(dialled.ok, `dial accepted: ${JSON.stringify(dialled)}`);
    await waitFor('the desk phone is connected', 15_000, async () => (deskPhone.events.some((e) => e.type === 'CALL_ESTABLISHED') ? true : undefined));
    assert.equal(deskPhone.events.find((e) => e.type === 'CALL_ESTABLISHED')?.param, 'sip:101@127.0.0.1');
    mark('test call answered');
    assert.ok((await deskPhone.command('hangup')).ok);
    await step('testCall', 'yes').waitFor();
    const took = Date.now() - started;
    mark('checklist shows the test call');
    // The dashboard's pictures count the call (server-side hourly aggregates, drawn with uPlot).
    await page.locator('[data-chart="Calls per hour"]').getByText('1 call in the period').waitFor();
    await page.locator('[data-chart="Answer-seizure ratio"]').getByText('100 % of calls answered').waitFor();
    assert.equal(await page.locator('[data-testid="chart"] canvas').count(), 4);
    // Its audio went through the relay: the call-quality figures count it (it lasts too short a
    // moment for both phones to have sent audio, so whether it flowed both ways is not asserted).
    await page.getByTestId('call-quality').locator('[data-figure="Answered calls measured"]').getByText('1 of 1').waitFor();
    await look('dashboard-after-call');

    const timeline = marks.map(([what, ms]) => `${(ms / 1000).toFixed(1).padStart(6)} s  ${what}`).join('\n');
    console.log(`time to first call (scripted, from opening sign-up):\n${timeline}`);
    assert.ok(took < 120_000, `a first call within two minutes: took ${took} ms\n${timeline}`);

    // The record the checklist links to tells what happened.
    await checklist.getByRole('link', { name: 'See what happened' }).click();
    await page.getByTestId('why-it-ended').waitFor();
    // Its story: both legs' messages as a ladder, with the legs on the same timeline; any message opens in full.
    const ladder = page.getByTestId('ladder');
    await ladder
      .getByRole('button', { name: /^INVITE from 127\.0\.0\.1:/ })
      .first()
      .waitFor();
    await ladder
      .getByRole('button', { name: /^INVITE to 127\.0\.0\.1:/ })
      .first()
      .waitFor();
    await ladder
      .getByRole('button', { name: /^200 OK to / })
      .first()
      .waitFor();
    await ladder.getByText(/^leg B outbound leg alice-desk → bob-lobby/).waitFor();
    await ladder
      .getByRole('button', { name: /^BYE from / })
      .first()
      .click();
    assert.match((await page.getByTestId('sip-message').textContent())!, /^BYE sip:.*\nCSeq: \d+ BYE/ms);
    const downloads = await page.getByRole('link', { name: /^Download/ }).evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).getAttribute('href')));
    assert.deepEqual(
      downloads.map((h) => h!.replace(/cdrs\/[^/]+\//, 'cdrs/ID/')),
      ['/api/v1/cdrs/ID/story?format=text', '/api/v1/cdrs/ID/story?format=pcap'],
    );
    const pcap = await page.evaluate(async (href) => new Uint8Array(await (await fetch(href)).arrayBuffer()).slice(0, 4).join(','), downloads[1]!);
    assert.equal(pcap, '212,195,178,161', 'a pcap file');
    await look('call-record');

    // A call in progress: its messages so far, and the end-call button.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Live calls' }).click();
    await page.locator('[data-testid="live-connection"][data-connection="live"]').waitFor();
    const calls = deskPhone.events.length;
    assert.ok((await deskPhone.command('dial', 'sip:101@127.0.0.1')).ok);
    await waitFor('the second call connected', 15_000, async () => (deskPhone.events.slice(calls).some((e) => e.type === 'CALL_ESTABLISHED') ? true : undefined));
    const liveCall = page.locator('[data-testid="live-call"][data-ended="no"]');
    await liveCall.locator('tr[data-state="up"]').nth(1).waitFor();
    await liveCall.getByRole('button', { name: 'Show SIP messages' }).click();
    await liveCall
      .getByTestId('ladder')
      .getByRole('button', { name: /^INVITE from / })
      .first()
      .waitFor();
    await look('live-call');
    page.once('dialog', (d) => void d.accept());
    await liveCall.getByRole('button', { name: 'End call' }).click();
    await page.locator('[data-testid="live-call"][data-ended="yes"]').first().waitFor();
    for (const p of [deskPhone, lobbyPhone]) {
      await waitFor(`${p.name}: the call ended by the switch`, 10_000, async () => (p.events.filter((e) => e.type === 'CALL_CLOSED').length >= 2 ? true : undefined));
    }

    // With a `default` saved (a new version of the one stored at sign-up), the dialplan pickers list it once (the empty choice is it).
    const saved = await page.evaluate(
      async (source) => (await fetch('/api/v1/dialplans/default', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ source }) })).status,
      STARTER_DIALPLAN,
    );
    assert.equal(saved, 200);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Phones' }).click();
    await page.getByRole('link', { name: 'alice-desk' }).click();
    const places = page.getByLabel('Dialplan for calls it places');
    await places.locator('option', { hasText: 'default' }).first().waitFor({ state: 'attached' });
    assert.deepEqual(await places.locator('option').allTextContents(), ['default']);

    assert.deepEqual(a11y, [], 'no serious accessibility violations');
    assert.deepEqual(problems, []);
  });
});
