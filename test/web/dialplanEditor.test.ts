/**
 * The dialplan editor in Chromium: a new dialplan opens with the commented starter, an example from
 * the gallery replaces it, two saves make two versions, the older one is compared side by side
 * with the current one and restored; the gallery and the comparison pass axe-core. As the user
 * types, warnings (code that never runs, a dial not awaited, a name the API does not have) are
 * marked at their line in amber and listed under the editor, apart from errors, and do not stop
 * saving; an error does. A screenshot of the warnings lands in test-artifacts/dialplan-editor/.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Browser, type Page } from 'playwright-core';
import { ensurePortalBuilt } from '../../web/scripts/ensureBuilt.ts';
import { signUp } from '../helpers/api.ts';
import { launchChromium, noChromium } from '../helpers/chromium.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { seriousViolations } from '../helpers/axe.ts';

const noBrowser = noChromium;

describe('dialplan editor: examples, versions compared and restored (sqlite)', { skip: noBrowser, timeout: 120_000 }, () => {
  let sw: TestSwitch;
  let browser: Browser;
  let page: Page;
  before(async () => {
    await ensurePortalBuilt();
    sw = await startTestSwitch('sqlite');
    browser = await launchChromium();
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
    // `default` exists from sign-up; a dialplan of another name is new and opens with the starter.
    await page.goto('/dialplans/office');
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

  test('warnings as you type: at their line, told apart from errors, and saving still offered', async () => {
    await page.goto('/dialplans/default');
    const editor = page.locator('.cm-content').first();
    await editor.getByText('// A colleague', { exact: false }).waitFor();
    const source = [
      'export default async function (call) {',
      '  log(call.form.user);',
      "  dial('alice');",
      "  const r = await dail('bob');",
      '  return;',
      "  log('never');",
      '}',
      '',
    ].join('\n');
    await editor.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(source);

    const warnings = page.getByTestId('source-warnings');
    await warnings.getByText(/Unreachable code/).waitFor();
    const items = warnings.locator('li');
    assert.deepEqual(await items.evaluateAll((lis) => lis.map((li) => li.getAttribute('data-line'))), ['2', '3', '4', '6']);
    assert.match((await items.nth(0).textContent())!, /^Warning Line 2, column 12: `call` has no `form`/);
    assert.match((await items.nth(1).textContent())!, /^Warning Line 3, column 3: dial\(\) is not awaited/);
    assert.match((await items.nth(2).textContent())!, /`dail` is not defined.*did you mean `dial`\?/);
    assert.match((await items.nth(3).textContent())!, /^Warning Line 6, column 3: Unreachable code: this never runs, it follows a return on line 5\./);
    // Marked in the editor at their lines, as warnings: no error anywhere.
    const lines = page.locator('.cm-line');
    for (const [line, marked] of [
      [1, 'form'],
      [2, "dial('alice')"],
      [3, 'dail'],
      [5, "log('never');"],
    ] as const) {
      assert.equal(await lines.nth(line).locator('.cm-lintRange-warning').first().textContent(), marked, `line ${line + 1}`);
    }
    assert.equal(await page.locator('.cm-lintRange-error').count(), 0);
    assert.equal(await page.getByTestId('source-errors').count(), 0);
    await page.locator('.cm-lint-marker-warning').first().waitFor();
    assert.ok(await page.getByRole('button', { name: 'Save' }).isEnabled(), 'a warning does not withhold saving');
    assert.deepEqual(await seriousViolations(page, ['[data-testid="source-warnings"]']), []);
    await page.screenshot({ path: fileURLToPath(new URL('../../test-artifacts/dialplan-editor/warnings.png', import.meta.url)) });
    // Saved with its warnings (version 1 is the default stored at sign-up), which stay shown.
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved as version 2.').waitFor();
    assert.equal(await warnings.locator('li').count(), 4, 'the warnings are still listed after saving');

    // A syntax error: the error is marked, and saving withheld.
    await editor.click();
    await page.keyboard.press('Control+End');
    await page.keyboard.insertText('const = 1;\n');
    await page
      .getByTestId('source-errors')
      .getByText(/^Error Line 8, column/)
      .waitFor();
    await lines.nth(7).locator('.cm-lintRange-error').waitFor();
    assert.ok(await page.getByRole('button', { name: 'Save' }).isDisabled());
    assert.equal(await page.getByTestId('source-warnings').count(), 0, 'warnings wait until the source compiles');
  });
});
