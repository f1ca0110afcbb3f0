/**
 * The operators' Nodes page in headless Chromium, on MySQL (where nodes record themselves): an
 * operator (OPERATOR_EMAILS) finds it in the navigation and sees this node alive with its fresh
 * heartbeat and the registration it holds, and a node that stopped beating as dead; a tenant's user
 * has no link to it, gets the API's refusal on the page, and a 403 from the API. A screenshot
 * lands in test-artifacts/nodes/ (git-ignored).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Browser, type Page } from 'playwright-core';
import { ensurePortalBuilt } from '../../web/scripts/ensureBuilt.ts';
import { ApiClient, createSipAccount, STRONG_PASSWORD, uniqueEmail } from '../helpers/api.ts';
import { seriousViolations } from '../helpers/axe.ts';
import { launchChromium, noChromium } from '../helpers/chromium.ts';
import { skipUnless } from '../helpers/databases.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

const noBrowser = noChromium;

describe('nodes page in Chromium (mysql)', { skip: skipUnless('mysql') || noBrowser, timeout: 120_000 }, () => {
  let sw: TestSwitch;
  let browser: Browser;
  let phone: TestPhone | undefined;
  const operatorEmail = uniqueEmail();
  const tenantEmail = uniqueEmail();
  let tenant: ApiClient;

  before(async () => {
    await ensurePortalBuilt();
    sw = await startTestSwitch('mysql');
    const op = new ApiClient(sw.httpUrl);
    assert.equal((await op.post('/auth/signup', { email: operatorEmail, password: STRONG_PASSWORD })).status, 201);
    await sw.restart({ OPERATOR_EMAILS: operatorEmail, NODE_ID: 'node-a' });
    tenant = new ApiClient(sw.httpUrl);
    assert.equal((await tenant.post('/auth/signup', { email: tenantEmail, password: STRONG_PASSWORD })).status, 201);
    browser = await launchChromium();
  });
  after(async () => {
    phone?.close();
    await browser?.close();
    await sw?.close();
  });

  async function logIn(email: string): Promise<Page> {
    const context = await browser.newContext({ baseURL: sw.httpUrl, viewport: { width: 1360, height: 900 }, bypassCSP: true });
    context.setDefaultTimeout(15_000);
    const page = await context.newPage();
    await page.goto('/login');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(STRONG_PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    return page;
  }

  test('an operator sees each node, alive or dead, with its heartbeat and what it holds', async () => {
    // A phone of the tenant registers with this node.
    const alice = await createSipAccount(tenant);
    phone = await TestPhone.open('udp', sw.sipPort);
    assert.equal((await phone.register({ user: alice.username, password: alice.password })).final.status, 200);
    // Another node that beat a minute ago and then went silent.
    await sw.running.store.nodes.started({ id: 'node-b', sipAddress: '127.0.0.1:15060', httpUrl: 'http://127.0.0.1:18080' }, Date.now() - 60_000);

    const page = await logIn(operatorEmail);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Nodes' }).click();
    await page.getByRole('heading', { name: 'Nodes' }).waitFor();
    const table = page.getByRole('table', { name: 'Nodes of the cluster' });
    const self = table.locator('[data-testid="node"][data-node="node-a"]');
    await self.waitFor();
    assert.equal(await self.getAttribute('data-state'), 'up');
    assert.match((await self.textContent())!, /this node/);
    assert.equal((await self.getByRole('cell').nth(1).textContent())!.trim(), 'alive');
    assert.match((await self.getByTestId('heartbeat').textContent())!, /^(just now|\d s ago)$/, 'it beats every 2 s');
    assert.deepEqual([await self.getByRole('cell').nth(4).textContent(), await self.getByRole('cell').nth(5).textContent()], ['0', '1'], 'no call in progress, one registration');

    const other = table.locator('[data-testid="node"][data-node="node-b"]');
    await other.waitFor();
    assert.match((await other.getByRole('cell').nth(1).textContent())!, /^dead/);
    assert.match((await other.getByTestId('heartbeat').textContent())!, /^(1 min|\d+ s) ago$/);
    assert.match((await other.getAttribute('data-state')) ?? '', /^(silent|taken-over)$/);
    // This node takes the silent one over at its next beat; the page follows as it polls.
    await table.locator('[data-testid="node"][data-node="node-b"][data-state="taken-over"]').waitFor();
    await other.getByText('taken over by node-a').waitFor();
    await page.screenshot({ path: fileURLToPath(new URL('../../test-artifacts/nodes/nodes.png', import.meta.url)), fullPage: true });
    assert.deepEqual(await seriousViolations(page), []);
  });

  test("a tenant's user has no Nodes link, and the page and API refuse it", async () => {
    assert.equal((await tenant.get('/operator/nodes')).status, 403);
    const page = await logIn(tenantEmail);
    assert.equal(await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Nodes' }).count(), 0);
    await page.goto('/nodes');
    await page.getByRole('alert').getByText('only an operator may do this').waitFor();
    assert.equal(await page.getByRole('table', { name: 'Nodes of the cluster' }).count(), 0);
  });
});
