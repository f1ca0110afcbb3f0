/**
 * A provider's "Test now" in Chromium: the OPTIONS goes out at once, and its answer shows with its
 * ladder; for a provider that registers, a REGISTER goes out too, to sipp as a digest registrar:
 * challenged, answered with the provider's credentials and accepted, or refused for a wrong password.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Browser, type Page } from 'playwright-core';
import { ensurePortalBuilt } from '../../web/scripts/ensureBuilt.ts';
import { seriousViolations } from '../helpers/axe.ts';
import { signUp, type ApiClient } from '../helpers/api.ts';
import { launchChromium, noChromium } from '../helpers/chromium.ts';
import { optionsPeer } from '../helpers/optionsPeer.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { skipWithout } from '../interop/tools.ts';
import { scratch } from '../calls/harness.ts';
import { answersIn, FAST_SIP_TIMERS, header, newSecret, PROVIDER_ENV, startRegistrar } from '../providers/registrarHarness.ts';

const noBrowser = noChromium || skipWithout('sipp', 'sip-tester');

describe('provider test now (sqlite, Chromium)', { skip: noBrowser, timeout: 90_000 }, () => {
  let sw: TestSwitch;
  let browser: Browser;
  let page: Page;
  let api: ApiClient;
  const tmp = scratch();
  before(async () => {
    await ensurePortalBuilt();
    sw = await startTestSwitch('sqlite', { env: PROVIDER_ENV, sipTimers: FAST_SIP_TIMERS });
    browser = await launchChromium();
    const context = await browser.newContext({ baseURL: sw.httpUrl, viewport: { width: 1360, height: 900 }, bypassCSP: true });
    context.setDefaultTimeout(15_000);
    api = await signUp(sw.httpUrl);
    await context.addCookies([{ name: 'sid', value: api.cookieValue(), url: sw.httpUrl }]);
    page = await context.newPage();
  });
  after(async () => {
    await browser?.close();
    await sw?.close();
    tmp.remove();
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

  test('a provider that registers: REGISTER challenged, answered and accepted, refused for a wrong password, and undone for a disabled provider', async () => {
    const password = newSecret();
    // Each OPTIONS ping, test REGISTER and registration loop of the agent is a Call-ID of its own.
    const registrar = await startRegistrar({ dir: tmp.dir, file: 'provider_registrar_options.xml', user: 'carol', password, expires: 120, calls: 50 });
    try {
      const created = await api.post('/providers', {
        name: 'registrar',
        host: '127.0.0.1',
        port: registrar.port,
        register: true,
        username: 'carol',
        password,
        registerExpires: 300,
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const at = `127.0.0.1:${registrar.port}`;
      await page.goto(`/providers/${created.body.id}`);
      const box = page.getByTestId('provider-test');
      await box.getByRole('button', { name: 'Test now' }).click();
      await box.getByText(/^Answered 200 OK in \d+ ms\.$/).waitFor();
      await box
        .getByTestId('register-test')
        .getByText("Registered: 401 Unauthorized, answered with the provider's credentials, then 200 OK; for 120 s.", { exact: true })
        .waitFor();
      // One ladder, in time order: the OPTIONS and its 200, and (sent at the same time) the
      // REGISTER, its challenge, the REGISTER that answers it, and the 200.
      const ladder = box.getByTestId('ladder');
      const arrows = (await ladder.locator('li[data-kind="sip"]').evaluateAll((lis) => lis.map((li) => li.querySelector('button')?.textContent?.trim()))) as string[];
      assert.deepEqual(
        [...arrows].sort(),
        [`200 OK from ${at}`, `200 OK from ${at}`, `401 Unauthorized from ${at}`, `OPTIONS to ${at}`, `REGISTER to ${at}`, `REGISTER to ${at}`],
        arrows.join('\n'),
      );
      const registerFlow = arrows.filter((a) => /^(REGISTER|401)/.test(a));
      assert.deepEqual(registerFlow, [`REGISTER to ${at}`, `401 Unauthorized from ${at}`, `REGISTER to ${at}`]);
      assert.ok(arrows.indexOf(`OPTIONS to ${at}`) < arrows.indexOf(`200 OK from ${at}`));
      assert.equal(arrows.at(-1), `200 OK from ${at}`);
      await ladder
        .getByRole('button', { name: `REGISTER to ${at}` })
        .nth(1)
        .click();
      const sent = (await page.getByTestId('sip-message').textContent())!;
      assert.match(sent, /^REGISTER sip:127\.0\.0\.1:\d+ SIP\/2\.0/);
      assert.match(sent, /Authorization: Digest [^\r\n]*username="carol"/i);
      assert.ok(!sent.includes(password), 'the password itself is never sent');
      assert.deepEqual(await seriousViolations(page, ['[data-testid="provider-test"]']), []);
      // What the registrar itself saw of the test's REGISTERs (a Call-ID of their own).
      const tested = registrar.trace().filter((m) => header(m, 'Call-ID').endsWith('@regtest'));
      assert.deepEqual(answersIn(tested), ['401', '200']);

      const changed = await api.request('PATCH', `/providers/${created.body.id}`, { password: 'Not-the-right-one-1' });
      assert.equal(changed.status, 200, JSON.stringify(changed.body));
      await box.getByRole('button', { name: 'Test now' }).click();
      await box
        .getByTestId('register-test')
        .getByText("Not registered: 401 Unauthorized, answered with the provider's credentials, then 403 Forbidden.", { exact: true })
        .waitFor();

      // A disabled provider (the agent does not register it): the test's binding is removed again.
      const disabled = await api.request('PATCH', `/providers/${created.body.id}`, { password, enabled: false });
      assert.equal(disabled.status, 200, JSON.stringify(disabled.body));
      await page.reload();
      await box.getByRole('button', { name: 'Test now' }).click();
      await box
        .getByTestId('register-test')
        .getByText(
          "Registered: 401 Unauthorized, answered with the provider's credentials, then 200 OK; for 120 s. The provider is disabled: the test registration was removed again.",
          { exact: true },
        )
        .waitFor();
      const tests = registrar.trace().filter((m) => header(m, 'Call-ID').endsWith('@regtest'));
      const last = tests.filter((m) => header(m, 'Call-ID') === header(tests.at(-1)!, 'Call-ID'));
      assert.deepEqual(
        last.filter((m) => m.dir === 'received').map((m) => header(m, 'Expires')),
        [String(300), String(300), '0', '0'],
        'registered for the configured expiry, then removed (each answering the challenge)',
      );
      assert.deepEqual(answersIn(last), ['401', '200', '401', '200']);
    } finally {
      registrar.kill();
    }
  });
});
