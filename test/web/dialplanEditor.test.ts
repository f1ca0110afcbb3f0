/**
 * The dialplan editor in Chromium: a new dialplan opens with the commented starter, an example from
 * the gallery replaces it, two saves make two versions, the older one is compared side by side
 * with the current one and restored; the gallery and the comparison pass axe-core.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ensurePortalBuilt } from '../../web/scripts/ensureBuilt.ts';
import { signUp } from '../helpers/api.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { skipWithout } from '../interop/tools.ts';
import { seriousViolations } from '../helpers/axe.ts';

const noBrowser = skipWithout('chromium', 'chromium');
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'];

describe('dialplan editor: examples, versions compared and restored (sqlite)', { skip: noBrowser, timeout: 120_000 }, () => {
  let sw: TestSwitch;
  let browser: Browser;
  let page: Page;
  before(async () => {
    await ensurePortalBuilt();
    sw = await startTestSwitch('sqlite');
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
    const context = await browser.newContext({ baseURL: sw.httpUrl, viewport: { width: 1360, height: 900 }, bypassCSP: true });
    context.setDefaultTimeout(15_000);
    // The session of a tenant signed up through the API, handed to the browser.
    const api = await signUp(sw.httpUrl);
    const sid = api.cookieValue();
    await context.addCookies([{ name: 'sid', value: sid, url: sw.httpUrl }]);
    page = await context.newPage();
  });
  after(async () => {
    await browser?.close();
    await sw?.close();
  });

  test('starter, example, two versions, compare, restore', async () => {
    await page.goto('/dialplans/default');
    const editor = page.locator('.cm-content').first();
    await editor.getByText('// A colleague', { exact: false }).waitFor();
    const examples = page.getByTestId('examples');
    await examples.getByLabel('Office hours').check();
    await examples.getByRole('button', { name: 'Use “Office hours” in the editor' }).click();
    await editor.getByText('// Office hours', { exact: false }).waitFor();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved as version 1.').waitFor();
    await examples.getByLabel('Blocklist').check();
    await examples.getByRole('button', { name: 'Use “Blocklist” in the editor' }).click();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved as version 2.').waitFor();

    const versions = page.locator('.versions');
    await versions.getByRole('button', { name: 'Compare' }).click();
    const diff = page.getByTestId('version-diff');
    await diff.getByText('Version 1', { exact: true }).waitFor();
    await diff.getByText('Version 2 (current)').waitFor();
    assert.ok((await diff.locator('.cm-changedLine, .cm-deletedChunk, .cm-changedText').count()) > 0, 'the changes are marked');
    // The gallery and the comparison; the editor itself has known findings (its template-string
    // colour, its scroller) that are not this test's subject.
    assert.deepEqual(await seriousViolations(page, ['[data-testid="examples"]', '[data-testid="version-diff"]']), []);

    page.once('dialog', (d) => void d.accept());
    await versions.getByRole('button', { name: 'Restore' }).click();
    await page.getByText('Version 1 restored as version 3.').waitFor();
    await editor.getByText('// Office hours', { exact: false }).waitFor();
  });
});
