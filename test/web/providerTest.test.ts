/** A provider's "Test now" in Chromium: the OPTIONS goes out at once, and its answer shows with its ladder. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ensurePortalBuilt } from '../../web/scripts/ensureBuilt.ts';
import { seriousViolations } from '../helpers/axe.ts';
import { signUp, type ApiClient } from '../helpers/api.ts';
import { optionsPeer } from '../helpers/optionsPeer.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { skipWithout } from '../interop/tools.ts';
import { FAST_SIP_TIMERS, PROVIDER_ENV } from '../providers/registrarHarness.ts';

const noBrowser = skipWithout('chromium', 'chromium');
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'];

describe('provider test now (sqlite, Chromium)', { skip: noBrowser, timeout: 90_000 }, () => {
  let sw: TestSwitch;
  let browser: Browser;
  let page: Page;
  let api: ApiClient;
  before(async () => {
    await ensurePortalBuilt();
    sw = await startTestSwitch('sqlite', { env: PROVIDER_ENV, sipTimers: FAST_SIP_TIMERS });
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
    const context = await browser.newContext({ baseURL: sw.httpUrl, viewport: { width: 1360, height: 900 }, bypassCSP: true });
    context.setDefaultTimeout(15_000);
    api = await signUp(sw.httpUrl);
    await context.addCookies([{ name: 'sid', value: api.cookieValue(), url: sw.httpUrl }]);
    page = await context.newPage();
  });
  after(async () => {
    await browser?.close();
    await sw?.close();
  });

  test('the answer and the exchange, then silence said as such', async () => {
    const peer = await optionsPeer('200 OK');
    try {
      const created = await api.post('/providers', { name: 'carrier', host: '127.0.0.1', port: peer.port });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      await page.goto(`/providers/${created.body.id}`);
      const box = page.getByTestId('provider-test');
      await box.getByRole('button', { name: 'Test now' }).click();
      await box.getByText(/^Answered 200 OK in \d+ ms\.$/).waitFor();
      await box.getByRole('button', { name: `OPTIONS to 127.0.0.1:${peer.port}` }).waitFor();
      await box.getByRole('button', { name: `200 OK from 127.0.0.1:${peer.port}` }).click();
      assert.match((await page.getByTestId('sip-message').textContent())!, /^SIP\/2\.0 200 OK/);
      assert.deepEqual(await seriousViolations(page, ['[data-testid="provider-test"]']), []);
      peer.state.answering = false;
      await box.getByRole('button', { name: 'Test now' }).click();
      await box.getByText(/^No answer: 127\.0\.0\.1 did not answer OPTIONS\.$/).waitFor();
    } finally {
      peer.close();
    }
  });
});
