/**
 * The portal in headless Chromium against a real switch (SQLite) and real sipp phones: sign up,
 * create a phone, register sipp with the settings the page shows and see it registered, write a
 * dialplan with a syntax error and see it marked at its line, fix it, test-run it, place a sipp
 * call through the switch and follow it in the live view, then find its record in the table.
 * Screenshots of every page land in test-artifacts/portal/ (git-ignored).
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { type Browser, type Page } from 'playwright-core';
import { ensurePortalBuilt } from '../../web/scripts/ensureBuilt.ts';
import { authRow, assertSippOk, registerFrom, scenario, scratch, startSipp, type Account, type SippPeer } from '../calls/harness.ts';
import { launchChromium, noChromium } from '../helpers/chromium.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { freeUdpTcpPort, skipWithout } from '../interop/tools.ts';

const noBrowser = noChromium;
const noSipp = skipWithout('sipp', 'sip-tester');
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/portal/', import.meta.url));
const PASSWORD = 'Plum-Orbit-Cascade-91';
const suffix = Math.random().toString(36).slice(2, 7);

describe('portal in Chromium (sqlite, sipp)', { skip: noBrowser || noSipp, timeout: 180_000 }, () => {
  let sw: TestSwitch;
  let browser: Browser;
  let page: Page;
  const tmp = scratch();
  const peers: SippPeer[] = [];
  /** Content security policy violations and uncaught errors in the page: each one fails the suite. */
  const problems: string[] = [];
  let shots = 0;
  const shot = (name: string) => page.screenshot({ path: `${ARTIFACTS}${String(++shots).padStart(2, '0')}-${name}.png`, fullPage: true });

  before(async () => {
    await ensurePortalBuilt();
    mkdirSync(ARTIFACTS, { recursive: true });
    sw = await startTestSwitch('sqlite');
    browser = await launchChromium();
    // A browser set to German: sign-up takes the home country from it.
    const context = await browser.newContext({ baseURL: sw.httpUrl, viewport: { width: 1360, height: 900 }, locale: 'de-DE' });
    context.setDefaultTimeout(15_000);
    page = await context.newPage();
    page.on('pageerror', (err) => problems.push(`page error: ${err.stack ?? err.message}`));
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) problems.push(`CSP at ${page.url()} (${m.location().url}:${m.location().lineNumber}): ${m.text()}`);
    });
  });

  after(async () => {
    for (const p of peers) p.kill();
    await browser?.close();
    await sw?.close();
    tmp.remove();
  });

  test('pages carry a content security policy; client-side routes get the page; /api stays JSON', async () => {
    for (const path of ['/', '/phones', '/calls/some-id']) {
      const r = await fetch(`${sw.httpUrl}${path}`);
      assert.equal(r.status, 200, path);
      assert.match(r.headers.get('content-type') ?? '', /text\/html/);
      const csp = r.headers.get('content-security-policy') ?? '';
      assert.match(csp, /script-src 'self';/, `${path}: ${csp}`);
      const nonce = /style-src 'self' 'nonce-([^']+)'/.exec(csp)?.[1];
      assert.ok(nonce, `a style nonce in ${csp}`);
      const html = await r.text();
      assert.ok(html.includes(`nonce="${nonce}"`), 'the page carries the nonce of its own header');
      assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
    }
    const nonces = await Promise.all([1, 2].map(async () => /nonce-([^']+)/.exec((await fetch(`${sw.httpUrl}/`)).headers.get('content-security-policy')!)?.[1]));
    assert.notEqual(nonces[0], nonces[1], 'a fresh nonce per response');
    const api = await fetch(`${sw.httpUrl}/api/v1/me`);
    assert.equal(api.status, 401);
    assert.deepEqual(await api.json(), { error: 'not logged in' });
    assert.equal((await fetch(`${sw.httpUrl}/assets/missing.js`)).status, 404);
  });

  test('a browser region the switch has no number plan for (Antarctica) still signs up, with the home country left unset', async () => {
    const context = await browser.newContext({ baseURL: sw.httpUrl, locale: 'en-AQ' });
    try {
      const p = await context.newPage();
      await p.goto('/signup');
      await p.getByLabel('Email').fill(`antarctica-${suffix}@example.com`);
      await p.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await p.getByLabel('Repeat the password').fill(PASSWORD);
      await p.getByRole('button', { name: 'Create account' }).click();
      await p.getByRole('heading', { name: 'Dashboard' }).waitFor();
      const settings = await p.evaluate(async () => (await fetch('/api/v1/settings')).json());
      assert.deepEqual([settings.country, settings.internationalCalls], [null, false]);
    } finally {
      await context.close();
    }
  });

  test('sign up, register a phone, write and test a dialplan, call through the switch, read the record', async () => {
    // Every page but sign-up and login is behind login.
    await page.goto('/phones');
    await page.waitForURL(/\/login\?next=%2Fphones$/);
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
    await shot('login');

    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.getByLabel('Email').fill(`portal-${suffix}@example.com`);
    await page.getByLabel('Password', { exact: true }).fill('password1234');
    await page.getByLabel('Repeat the password').fill('password1234');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByText('is too easy to guess').waitFor();
    await shot('signup-validation');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Repeat the password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    await shot('dashboard-empty');

    // A phone, with its password shown once and the settings for the softphone.
    const createPhone = async (username: string): Promise<Account & { domain: string; proxy: string }> => {
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Phones' }).click();
      await page.getByRole('button', { name: 'New phone' }).click();
      await page.getByLabel('Username').fill(username);
      await page.getByRole('button', { name: 'Create phone' }).click();
      const password = (await page.getByTestId('new-password').textContent())!.trim();
      const setting = async (label: string) => (await page.locator(`[data-setting="${label}"]`).textContent())!.trim();
      assert.equal(await setting('User name'), username);
      const id = new URL(page.url()).pathname.split('/').pop()!;
      return { id, username, password, domain: await setting('Domain'), proxy: await setting('Outbound proxy') };
    };
    const desk = await createPhone(`desk-${suffix}`);
    assert.match(desk.password, /^[A-Za-z2-9]{5}(-[A-Za-z2-9]{5}){3}$/);
    assert.equal(desk.domain, '127.0.0.1');
    assert.equal(desk.proxy, `127.0.0.1:${sw.sipPort}`);
    await page.getByTestId('registration-state').and(page.locator('[data-registered="no"]')).waitFor();
    await shot('phone-created');

    // sipp registers with exactly what the page said: user, password, domain, proxy.
    const deskPort = await freeUdpTcpPort();
    await registerFrom(tmp.dir, Number(desk.proxy.split(':')[1]), desk, deskPort);
    const state = page.getByTestId('registration-state');
    await state.and(page.locator('[data-registered="yes"]')).waitFor({ timeout: 10_000 });
    await state.getByText(`127.0.0.1:${deskPort} (UDP)`).waitFor();
    await page.getByText('Registered', { exact: true }).first().waitFor();
    await shot('phone-registered');

    const lobby = await createPhone(`lobby-${suffix}`);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Phones' }).click();
    await page
      .getByRole('row', { name: new RegExp(desk.username) })
      .getByText('Registered', { exact: true })
      .waitFor();
    await page
      .getByRole('row', { name: new RegExp(lobby.username) })
      .getByText('Not registered', { exact: true })
      .waitFor();
    await shot('phones');

    // The default dialplan: completion from the API's declaration file, then a syntax error on line 3.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dialplans' }).click();
    // Stored at sign-up (version 1), it is listed with the tenant's dialplans.
    await page.getByRole('table').getByRole('link', { name: 'default', exact: true }).click();
    const editor = page.locator('.cm-content');
    await editor.waitFor();
    await editor.click();
    await page.keyboard.press('Control+End');
    await page.keyboard.type('\ncall.');
    const completions = page.locator('.cm-tooltip-autocomplete');
    await completions.getByText('from', { exact: true }).waitFor();
    await completions.getByText('requestUri', { exact: true }).waitFor();
    await shot('dialplan-completion');
    await page.keyboard.press('Escape');

    const source = (dialArgs: string) =>
      [
        'export default async function (call) {',
        `  log('dialling for ' + call.to.user);`,
        `  const r = await dial(${dialArgs});`,
        `  log('dial result ' + r.result);`,
        '}',
        '',
      ].join('\n');
    const replaceSource = async (text: string) => {
      await editor.click();
      await page.keyboard.press('Control+A');
      await page.keyboard.insertText(text);
    };
    await replaceSource(source(`'${desk.username}' { timeout: 10 }`));
    // Checked as it is typed, the way saving checks it: the error is marked, and Save is withheld.
    const errors = page.getByTestId('source-errors');
    await errors.getByText(/Line 3, column \d+/).waitFor();
    assert.match((await errors.textContent())!, /SyntaxError/);
    await page.locator('.cm-line').nth(2).locator('.cm-lintRange-error').waitFor();
    assert.equal(await page.locator('.cm-lintRange-error').count(), 1, 'one error, marked on line 3 only');
    await page.locator('.cm-lint-marker-error').waitFor();
    assert.ok(await page.getByRole('button', { name: 'Save' }).isDisabled(), 'what the switch would refuse is not offered for saving');
    // Ctrl-S still asks the switch, which refuses and says why.
    await editor.click();
    await page.keyboard.press('Control+s');
    await page.getByText('Not saved: the dialplan does not compile.').waitFor();
    await shot('dialplan-syntax-error');

    await replaceSource(source(`'${desk.username}', { timeout: 10 }`));
    await page.getByRole('button', { name: 'Save' }).click();
    // Version 1 is the commented default stored at sign-up.
    await page.getByText('Saved as version 2.').waitFor();
    assert.equal(await page.locator('.cm-lintRange-error').count(), 0);
    assert.equal(await errors.count(), 0);

    // A test run: the first lists the targets the script dials; the second says the desk answers.
    const testRun = page.getByRole('form', { name: 'Test run' });
    await testRun.getByLabel('Calling account (optional)').fill(lobby.username);
    await testRun.getByLabel('From', { exact: true }).fill(lobby.username);
    await testRun.getByLabel('To (dialled)').fill('100');
    await testRun.getByRole('button', { name: 'Run test' }).click();
    const actions = page.getByTestId('test-actions');
    await actions.getByText(`dial ${desk.username} → no-answer`).waitFor();
    await testRun.getByLabel(`Outcome for ${desk.username}`).selectOption('answered');
    await testRun.getByRole('button', { name: 'Run test' }).click();
    await actions.getByText(`dial ${desk.username} → answered by ${desk.username} (200)`).waitFor();
    await page.getByTestId('test-log').getByText('dial result answered').waitFor();
    await page.getByTestId('test-log').getByText('dialling for 100').waitFor();
    await shot('dialplan-test-run');

    // A real call: lobby dials 100, the dialplan rings the desk phone (sipp registered above).
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Live calls' }).click();
    await page.locator('[data-testid="live-connection"][data-connection="live"]').waitFor();
    const callee = await startSipp({ dir: tmp.dir, name: 'desk', scenario: scenario('uas_answer.xml'), port: deskPort, keys: { party: 'desk' } });
    peers.push(callee);
    const caller = await startSipp({
      dir: tmp.dir,
      name: 'lobby',
      scenario: scenario('uac_auth_call.xml'),
      remote: `127.0.0.1:${sw.sipPort}`,
      service: '100',
      inf: [authRow(lobby)],
      keys: { party: 'lobby' },
      pauseMs: 2500,
    });
    peers.push(caller);
    const liveCall = page.locator('[data-testid="live-call"][data-ended="no"]');
    await liveCall.locator('tr[data-state="up"]').nth(1).waitFor({ timeout: 10_000 });
    const channelIds = await liveCall.locator('tr[data-channel-id]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-channel-id')!));
    assert.equal(channelIds.length, 2, 'caller and callee legs');
    await shot('live-call-connected');
    const [c, b] = await Promise.all([caller.done, callee.done]);
    assertSippOk({ caller: c, callee: b });
    const ended = page.locator('[data-testid="live-call"][data-ended="yes"]');
    await ended.waitFor();
    assert.deepEqual(
      await ended.locator('tr[data-channel-id]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-channel-id')!)),
      channelIds,
      'the same channel ids from start to end',
    );
    await shot('live-call-ended');

    // The record appears in the table (the page refreshes when a call ends), with its legs and log.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Call records' }).click();
    const row = page.getByTestId('cdr-table').getByRole('row', { name: new RegExp(`${lobby.username}.*100.*answered`) });
    await row.waitFor({ timeout: 10_000 });
    await shot('call-records');
    await page.getByLabel('Status').selectOption('busy');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByText('No call matches these filters.').waitFor();
    await page.getByLabel('Status').selectOption('answered');
    await page.getByLabel('Number').fill(desk.username);
    await page.getByRole('button', { name: 'Apply' }).click();
    await row.waitFor();
    assert.match(page.url(), /status=answered/);
    const csvHref = await page.getByRole('link', { name: 'Export CSV' }).getAttribute('href');
    assert.match(csvHref!, /^\/api\/v1\/cdrs\.csv\?.*status=answered/);

    await row.getByRole('link').click();
    const legs = page.getByTestId('cdr-legs');
    await legs.waitFor();
    for (const id of channelIds) await legs.getByText(id).waitFor();
    await page.getByTestId('cdr-log').getByText('dial result answered').waitFor();
    assert.match((await page.getByTestId('why-it-ended').textContent())!, /^Answered after .* of talk, then the caller hung up\.$/);
    await shot('call-detail');

    // The other pages render; the dashboard shows the registered phone and the call.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click();
    await page.locator('.big-number', { hasText: '1 of 2 registered' }).waitFor();
    await page.getByRole('link', { name: `${lobby.username} → 100` }).waitFor();
    await shot('dashboard');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Providers' }).click();
    await page.getByRole('heading', { name: 'Providers' }).waitFor();
    await shot('providers');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).click();
    await page.getByTestId('limits').getByText(`127.0.0.1:${sw.sipPort} (UDP, TCP)`).waitFor();
    // Calls abroad: the home country came from the browser at sign-up; calls abroad start off.
    const abroad = page.getByRole('form', { name: 'Calls abroad' });
    assert.equal(await abroad.getByLabel('Home country').inputValue(), 'DE');
    assert.equal(await abroad.getByLabel('Home country').locator('option:checked').textContent(), 'Germany');
    const allow = abroad.getByLabel('Allow calls to other countries through my providers');
    assert.equal(await allow.isChecked(), false);
    await shot('settings');
    await allow.check();
    await abroad.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved.').waitFor();
    const saved = await page.evaluate(async () => (await fetch('/api/v1/settings')).json());
    assert.deepEqual([saved.country, saved.internationalCalls], ['DE', true]);

    // API keys: a read-only key that expires; the list says both, the secret is shown once.
    const newKey = page.getByRole('form', { name: 'New API key' });
    await newKey.getByLabel("New key's name").fill('wallboard');
    await newKey.getByLabel('Access').selectOption('read-only');
    await newKey.getByLabel('Expires on (optional)').fill('2099-12-31');
    await newKey.getByRole('button', { name: 'Create key' }).click();
    await page.getByText('The key wallboard — shown only this once.').waitFor();
    const listedKey = page.getByTestId('api-key').filter({ hasText: 'wallboard' });
    await listedKey.getByText('Read-only').waitFor();
    await listedKey.getByText(/expires .*2099/).waitFor();
    const keys = await page.evaluate(async () => (await fetch('/api/v1/api-keys')).json());
    assert.deepEqual(
      keys.items.map((k: { name: string; scope: string }) => [k.name, k.scope]),
      [['wallboard', 'read-only']],
    );
    assert.match(keys.items[0].expiresAt, /^2099-12-3[01]T/);
    await shot('api-keys');

    // The Phones page shows 50 phones at a time, asking only for their registrations.
    await page.evaluate(async (prefix) => {
      for (let i = 0; i < 50; i++) {
        const r = await fetch('/api/v1/sip-accounts', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: `${prefix}${String(i).padStart(2, '0')}`, password: `Quartz-Meadow-${prefix}-${i}-Lantern` }),
        });
        if (r.status !== 201) throw new Error(`phone ${i}: ${r.status}`);
      }
    }, `zz${suffix}`);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Phones' }).click();
    const pager = page.getByRole('navigation', { name: 'Pages' });
    await pager.getByText('Phones 1–50 of 52').waitFor();
    await page
      .getByRole('row', { name: new RegExp(desk.username) })
      .getByText('Registered', { exact: true })
      .waitFor();
    await pager.getByRole('button', { name: 'Next →' }).click();
    await pager.getByText('Phones 51–52 of 52').waitFor();
    await page
      .getByRole('row', { name: new RegExp(`zz${suffix}49`) })
      .getByText('Not registered', { exact: true })
      .waitFor();
    assert.equal(await page.getByRole('row', { name: new RegExp(desk.username) }).count(), 0, 'the first page is not shown');

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
    assert.deepEqual(await page.evaluate(() => ({ local: localStorage.length, session: sessionStorage.length })), { local: 0, session: 0 }, 'nothing kept in web storage');
    assert.deepEqual(problems, []);
  });
});
