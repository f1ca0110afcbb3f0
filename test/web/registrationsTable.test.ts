/**
 * Issue 20, "What users tripped on": the registrations table scrolled sideways without showing it.
 * In Chromium on a narrow screen, a phone's table of registered devices is wider than its frame:
 * the frame shows the shadow at the edge that has more, takes focus, is named for screen readers,
 * and scrolls from the keyboard; the page itself does not scroll sideways (it did: the sidebar
 * took the width of the longest e-mail address, and two-column grids were at least 420px wide).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Browser, type Page } from 'playwright-core';
import { ensurePortalBuilt } from '../../web/scripts/ensureBuilt.ts';
import { createSipAccount, signUp, type ApiClient } from '../helpers/api.ts';
import { seriousViolations } from '../helpers/axe.ts';
import { launchChromium, noChromium } from '../helpers/chromium.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { eventually } from '../helpers/time.ts';

const noBrowser = noChromium;

describe('registrations table on a narrow screen (sqlite, Chromium)', { skip: noBrowser, timeout: 90_000 }, () => {
  let sw: TestSwitch;
  let browser: Browser;
  let page: Page;
  let api: ApiClient;
  let phone: TestPhone | undefined;
  before(async () => {
    await ensurePortalBuilt();
    sw = await startTestSwitch('sqlite');
    browser = await launchChromium();
    const context = await browser.newContext({ baseURL: sw.httpUrl, viewport: { width: 420, height: 900 }, bypassCSP: true });
    context.setDefaultTimeout(15_000);
    api = await signUp(sw.httpUrl);
    await context.addCookies([{ name: 'sid', value: api.cookieValue(), url: sw.httpUrl }]);
    page = await context.newPage();
  });
  after(async () => {
    phone?.close();
    await browser?.close();
    await sw?.close();
  });

  test('the frame shows that it scrolls, and scrolls from the keyboard', async () => {
    const account = await createSipAccount(api);
    phone = await TestPhone.open('udp', sw.sipPort);
    const registered = await phone.register({ user: account.username, password: account.password, extraHeaders: ['User-Agent: Deskphone-Model-X9000/12.4.1-build-20261207'] });
    assert.equal(registered.final.status, 200);

    await page.goto(`/phones/${account.id}`);
    const frame = page.getByRole('region', { name: 'Registered devices' });
    await frame.getByRole('table').waitFor();
    const measure = () =>
      frame.evaluate((el) => ({
        scrollWidth: el.scrollWidth,
        clientWidth: el.clientWidth,
        scrollLeft: el.scrollLeft,
        tabIndex: el.tabIndex,
        background: getComputedStyle(el).backgroundImage,
        pageScrolls: document.documentElement.scrollWidth > document.documentElement.clientWidth,
      }));
    const before = await measure();
    assert.ok(before.scrollWidth > before.clientWidth, `the table is wider than its frame (${before.scrollWidth} > ${before.clientWidth})`);
    assert.equal(before.scrollLeft, 0);
    assert.equal(before.tabIndex, 0, 'the frame takes focus');
    assert.match(before.background, /radial-gradient/, 'the shadows that show more table beyond the edge');
    assert.equal(before.pageScrolls, false, 'only the frame scrolls, not the page');

    await frame.focus();
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('End');
    // Scrolling may be animated: wait for it rather than read it at once.
    await eventually('the keyboard scrolls it', async () => (await measure()).scrollLeft > 0, 5000);
    assert.deepEqual(await seriousViolations(page, ['[role="region"][aria-label="Registered devices"]']), []);
  });
});
