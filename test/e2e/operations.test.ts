/**
 * The block pages in headless Chromium: a tenant sees the blocks that concern its accounts and can
 * lift only its account's block; an operator (OPERATOR_EMAILS) gets the Operations page, sees every
 * ban with its reason and expiry and lifts an address ban, after which the address is served again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Browser, type Page } from 'playwright-core';
import { ensurePortalBuilt } from '../../web/scripts/ensureBuilt.ts';
import { ApiClient, createSipAccount, STRONG_PASSWORD, uniqueEmail } from '../helpers/api.ts';
import { launchChromium, noChromium } from '../helpers/chromium.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

const noBrowser = noChromium;

describe('block pages in Chromium (sqlite)', { skip: noBrowser, timeout: 180_000 }, () => {
  let sw: TestSwitch;
  let browser: Browser;
  const operatorEmail = uniqueEmail();
  const tenantEmail = uniqueEmail();
  let alice: { username: string; password: string };

  before(async () => {
    await ensurePortalBuilt();
    sw = await startTestSwitch('sqlite');
    const op = new ApiClient(sw.httpUrl);
    assert.equal((await op.post('/auth/signup', { email: operatorEmail, password: STRONG_PASSWORD })).status, 201);
    await sw.restart({ OPERATOR_EMAILS: operatorEmail });
    const tenant = new ApiClient(sw.httpUrl);
    assert.equal((await tenant.post('/auth/signup', { email: tenantEmail, password: STRONG_PASSWORD })).status, 201);
    alice = await createSipAccount(tenant);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await sw?.close();
  });

  async function failFrom(address: string, users: string[]): Promise<void> {
    const p = await TestPhone.open('udp', sw.sipPort, address);
    try {
      for (const user of users) assert.equal((await p.register({ user, password: 'wrong-wrong-1' })).final.status, 403);
    } finally {
      p.close();
    }
  }

  async function logIn(email: string): Promise<Page> {
    const context = await browser.newContext({ baseURL: sw.httpUrl, viewport: { width: 1360, height: 900 } });
    context.setDefaultTimeout(15_000);
    const page = await context.newPage();
    page.on('dialog', (d) => void d.accept());
    await page.goto('/login');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(STRONG_PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    return page;
  }

  test('a tenant lifts its own account block but not an address ban; the operator lifts the ban', async () => {
    await failFrom('127.0.0.2', [alice.username, 'x1nobody', 'x2nobody', 'x3nobody', 'x4nobody']);
    await failFrom(
      '127.0.0.3',
      Array.from({ length: 10 }, () => alice.username),
    );

    const tenant = await logIn(tenantEmail);
    const nav = tenant.getByRole('navigation', { name: 'Main' });
    assert.equal(await nav.getByRole('link', { name: 'Operations' }).count(), 0, 'tenants have no Operations page');
    await nav.getByRole('link', { name: 'Blocks' }).click();
    const table = tenant.getByRole('table', { name: 'Blocks that concern your accounts' });
    const banRow = table.getByRole('row', { name: /127\.0\.0\.2/ });
    const blockRow = table.getByRole('row', { name: /127\.0\.0\.3/ });
    await banRow.getByText(/5 usernames failed/).waitFor();
    assert.equal(await banRow.getByRole('cell', { name: alice.username, exact: true }).count(), 1, 'only its own username');
    assert.equal(await banRow.getByRole('button', { name: 'Lift' }).count(), 0);
    await blockRow.getByRole('button', { name: 'Lift' }).click();
    await blockRow.waitFor({ state: 'detached' });

    const operator = await logIn(operatorEmail);
    await operator.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Operations' }).click();
    const all = operator.getByRole('table', { name: 'Every block on this node' });
    const row = all.getByRole('row', { name: /127\.0\.0\.2/ });
    await row.getByText(/in 60 min|in 1 h/).waitFor();
    assert.match((await row.textContent()) ?? '', /x1nobody/);
    await row.getByRole('button', { name: 'Lift' }).click();
    await row.waitFor({ state: 'detached' });

    const p = await TestPhone.open('udp', sw.sipPort, '127.0.0.2');
    try {
      assert.equal((await p.request({ method: 'OPTIONS' })).status, 200, 'the address is served again');
    } finally {
      p.close();
    }
  });
});
