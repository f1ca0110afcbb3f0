/**
 * The portal's audio pages in Chromium: a prompt uploaded from a file, listed and played, a bad
 * file refused with the server's reason, deleted; the built-in tones listed; a recording listed,
 * played with its waveform drawn from the decoded audio, downloaded, shown on its call's page,
 * deleted, and never visible to another tenant; the dashboard's call-quality figures; a dialplan
 * menu's test run with the digits the caller presses. The new pages pass axe-core.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { finalise, newCallState } from '../../server/cdr/callRecord.ts';
import type { Cdr } from '../../server/domain/cdr.ts';
import { writeWav } from '../../server/media/audio/wav.ts';
import { RecordingFiles } from '../../server/recordings/recordingFiles.ts';
import { newId } from '../../server/store/ids.ts';
import { ensurePortalBuilt } from '../../web/scripts/ensureBuilt.ts';
import { seriousViolations } from '../helpers/axe.ts';
import { signUp, type ApiClient } from '../helpers/api.ts';
import { launchChromium, noChromium } from '../helpers/chromium.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { tone } from '../media/audioSignal.ts';

const noBrowser = noChromium;

/** The audio element plays: its position moves on from 0. */
async function playsIn(audio: Locator): Promise<{ duration: number; currentTime: number }> {
  await audio.evaluate((el: HTMLAudioElement) => el.play());
  await audio.page().waitForFunction((el) => el instanceof HTMLAudioElement && el.currentTime > 0.2, await audio.elementHandle(), { timeout: 10_000 });
  const state = await audio.evaluate((el: HTMLAudioElement) => ({ duration: el.duration, currentTime: el.currentTime, error: el.error?.message ?? null }));
  assert.equal(state.error, null);
  await audio.evaluate((el: HTMLAudioElement) => el.pause());
  return state;
}

/** Pixels of the canvas that are drawn (not transparent), as a share of all. */
async function drawnShare(canvas: Locator): Promise<number> {
  return canvas.evaluate((el: HTMLCanvasElement) => {
    const data = el.getContext('2d')!.getImageData(0, 0, el.width, el.height).data;
    let drawn = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) drawn++;
    return drawn / (el.width * el.height);
  });
}

describe('portal audio: prompts, recordings with waveforms, call quality, simulator digits (sqlite)', { skip: noBrowser, timeout: 180_000 }, () => {
  let sw: TestSwitch;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let a: ApiClient;
  let b: ApiClient;
  let tenantA: string;

  before(async () => {
    await ensurePortalBuilt();
    sw = await startTestSwitch('sqlite');
    browser = await launchChromium();
    a = await signUp(sw.httpUrl);
    b = await signUp(sw.httpUrl);
    tenantA = (await a.get('/me')).body.tenant.id as string;
    // The portal's own content security policy applies here; only the axe checks bypass it.
    context = await browser.newContext({ baseURL: sw.httpUrl, viewport: { width: 1360, height: 900 } });
    context.setDefaultTimeout(15_000);
    await context.addCookies([{ name: 'sid', value: a.cookieValue(), url: sw.httpUrl }]);
    page = await context.newPage();
  });
  after(async () => {
    await browser?.close();
    await sw?.close();
  });

  /** Serious axe findings on a path, in a context that lets axe's script in. */
  async function axeOf(pathname: string, ready: string, prepare?: (p: Page) => Promise<void>): Promise<string[]> {
    const ctx = await browser.newContext({ baseURL: sw.httpUrl, viewport: { width: 1360, height: 900 }, bypassCSP: true });
    try {
      await ctx.addCookies([{ name: 'sid', value: a.cookieValue(), url: sw.httpUrl }]);
      const p = await ctx.newPage();
      await p.goto(pathname);
      await p.locator(ready).first().waitFor();
      await prepare?.(p);
      return await seriousViolations(p);
    } finally {
      await ctx.close();
    }
  }

  test('prompts: uploaded from a file, listed, played; a bad file refused with the server’s reason; deleted; tones listed', async () => {
    await page.goto('/');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Prompts' }).click();
    await page.getByRole('heading', { name: 'Prompts', level: 1 }).waitFor();

    const wav = writeWav(tone(440, 1500));
    await page.getByLabel('Audio file (WAV or MP3)').setInputFiles({ name: 'welcome.wav', mimeType: 'audio/wav', buffer: wav });
    assert.equal(await page.getByLabel('Name', { exact: true }).inputValue(), 'welcome', 'named after the file');
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.getByText('Uploaded welcome (1.5 s).').waitFor();
    const row = page.locator('[data-testid="prompt"][data-name="welcome"]');
    await row.getByText('1.5 s').waitFor();
    const stored = (await a.get('/prompts/welcome')).body as { durationMs: number; bytes: number };
    assert.equal(stored.durationMs, 1500);
    await row.getByText(`${Math.round(stored.bytes / 1024)} KB`).waitFor();
    const played = await playsIn(row.getByLabel('Play the prompt welcome'));
    assert.ok(Math.abs(played.duration - 1.5) < 0.05, `the player has the prompt's length: ${played.duration}`);

    // Not audio: the server's own reason is shown.
    const junk = Buffer.from('this is not a WAV file, only text that says so');
    const refused = await a.request('PUT', '/prompts/junk', junk, { 'content-type': 'audio/wav' });
    assert.equal(refused.status, 400);
    await page.getByLabel('Audio file (WAV or MP3)').setInputFiles({ name: 'junk.wav', mimeType: 'audio/wav', buffer: junk });
    await page.getByRole('button', { name: 'Upload' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    const shown = await alert.textContent();
    assert.ok(shown?.toLowerCase().includes((refused.body.error as string).toLowerCase()), `shows “${refused.body.error}”: ${shown}`);
    assert.equal((await a.get('/prompts/junk')).status, 404);

    // The tones, each with a player that plays.
    const tones = (await a.get('/tones')).body.items as Array<{ name: string }>;
    assert.equal(await page.getByTestId('tone').count(), tones.length);
    await playsIn(page.getByLabel(`Play the tone ${tones[0]!.name}`));

    assert.deepEqual(await axeOf('/prompts', '[data-testid="prompt"]'), []);

    page.once('dialog', (d) => void d.accept());
    await row.getByRole('button', { name: 'Delete the prompt welcome' }).click();
    await page.getByText('Deleted welcome.').waitFor();
    assert.equal(await row.count(), 0);
    assert.equal((await a.get('/prompts/welcome')).status, 404);
  });

  test('recordings: listed, played with a waveform, downloaded, on its call’s page, deleted; another tenant gets 404', async () => {
    const files = new RecordingFiles(sw.db.dir);
    const callId = randomUUID();
    const id = newId();
    const place = files.place(tenantA, id);
    mkdirSync(path.dirname(place.absolute), { recursive: true });
    // Two seconds: a tone, then silence, so the waveform has loud and quiet columns.
    const samples = new Int16Array(16000);
    samples.set(tone(440, 1000));
    const wav = writeWav(samples);
    writeFileSync(place.absolute, wav);
    await sw.running.store.tenant(tenantA).recordings.add({ id, callId, channelId: 'ch-1', file: place.relative, durationMs: 2000, bytes: wav.length, createdAt: Date.now() });
    const record = finalise(newCallState({ type: 'call.ended', tenantId: tenantA, callId, nodeId: 'n', seq: 1, at: Date.now() }), Date.now());
    await sw.running.store.cdrs.insert([record]);

    // Another tenant sees nothing of it.
    assert.equal((await b.get(`/recordings/${id}`)).status, 404);
    assert.equal((await b.raw(`/recordings/${id}/audio`)).status, 404);
    assert.equal((await b.delete(`/recordings/${id}`)).status, 404);
    assert.deepEqual((await b.get('/recordings')).body.items, []);

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Recordings' }).click();
    const row = page.locator(`[data-testid="recording"][data-id="${id}"]`);
    await row.waitFor();
    await row.getByText('2 s').waitFor();
    assert.equal(await row.getByRole('link', { name: callId }).getAttribute('href'), `/calls/${record.id}`);

    await row.getByRole('button', { name: /^Listen to/ }).click();
    const player = page.getByTestId('recording-player');
    const canvas = player.locator('canvas[data-testid="waveform"][data-state="ready"]');
    await canvas.waitFor();
    const drawn = await drawnShare(canvas);
    assert.ok(drawn > 0.05 && drawn < 0.9, `the waveform is drawn, tall where the tone is: ${drawn}`);
    const played = await playsIn(player.locator('audio'));
    assert.ok(Math.abs(played.duration - 2) < 0.05, `the player decodes the whole recording: ${played.duration}`);

    const [download] = await Promise.all([page.waitForEvent('download'), row.getByRole('link', { name: /^Download/ }).click()]);
    assert.equal(download.suggestedFilename(), `recording-${id}.wav`);
    assert.deepEqual(readFileSync((await download.path())!), wav);

    assert.deepEqual(
      await axeOf('/recordings', '[data-testid="recording"]', async (p) => {
        await p.getByRole('button', { name: /^Listen to/ }).click();
        await p.locator('canvas[data-state="ready"]').waitFor();
      }),
      [],
    );

    // On its call's page, with its own player.
    await row.getByRole('link', { name: callId }).click();
    const section = page.locator('section', { has: page.getByRole('heading', { name: 'Recordings (1)' }) });
    await section.getByRole('button', { name: /^Listen to/ }).click();
    await section.locator('canvas[data-state="ready"]').waitFor();
    assert.ok((await drawnShare(section.locator('canvas'))) > 0.05);

    page.once('dialog', (d) => void d.accept());
    await section.getByRole('button', { name: /^Delete/ }).click();
    await page.getByRole('heading', { name: 'Recordings (1)' }).waitFor({ state: 'detached' });
    assert.equal((await a.get(`/recordings/${id}`)).status, 404);
  });

  test('dashboard: the call quality of the last day’s answered calls', async () => {
    const now = Date.now() - 60_000;
    const quality = (lost: number, jitterMs: number, toPhone: boolean) => ({
      silentSince: null,
      quality: { fromPhone: { packets: 1000 - lost, lost, jitterMs }, toPhone: { packets: toPhone ? 1000 : 0 }, flowing: { fromPhone: true, toPhone } },
    });
    const call = (tenantId: string, callerQ: ReturnType<typeof quality>, calleeQ: ReturnType<typeof quality>): Cdr => {
      const c = finalise(newCallState({ type: 'call.ended', tenantId, callId: randomUUID(), nodeId: 'n', seq: 1, at: now }), now);
      const party = { user: 'x', host: 'h', uri: 'sip:x@h' };
      return {
        ...c,
        status: 'answered',
        answeredAt: now,
        legs: [
          { id: randomUUID(), direction: 'inbound', from: party, to: party, createdAt: now, answeredAt: now, media: callerQ },
          { id: randomUUID(), direction: 'outbound', from: party, to: party, createdAt: now, answeredAt: now, media: calleeQ },
        ],
      };
    };
    await page.goto('/');
    await page.getByTestId('call-quality').getByText('No answered calls in the period.').waitFor();
    await sw.running.store.cdrs.insert([
      call(tenantA, quality(20, 4, true), quality(0, 2, true)),
      call(tenantA, quality(0, 6, true), quality(0, 2, false)),
      // Another tenant's call does not count.
      call((await b.get('/me')).body.tenant.id as string, quality(500, 90, false), quality(500, 90, false)),
    ]);
    await page.goto('/');
    const box = page.getByTestId('call-quality');
    await box.locator('[data-figure="Audio both ways"]').getByText('50 % (1 of 2)').waitFor();
    assert.equal(await box.locator('[data-figure="Answered calls measured"]').textContent(), '2 of 2');
    const figure = (name: string) => box.locator(`[data-figure="${name}"]`).textContent();
    // Loss: 20 of the caller's 2 × 1000 packets; jitter: the mean of 4 and 6 ms, of 2 and 2 ms.
    assert.equal(await figure('Loss, caller'), '1.0 %');
    assert.equal(await figure('Loss, answering phone'), '0.0 %');
    assert.equal(await figure('Jitter, caller'), '5.0 ms');
    assert.equal(await figure('Jitter, answering phone'), '2.0 ms');
    assert.equal(await box.locator('[data-testid="quality-chart"] canvas').count(), 3);
    assert.deepEqual(await axeOf('/', '[data-testid="call-quality"] dl', async () => {}), []);
  });

  test('simulator: a menu’s test run takes the digits given and reports the branch they lead to', async () => {
    const source = `export default async function (call) {
  await answer();
  const choice = await collect({ digits: 1, timeout: 5, prompt: 'beep' });
  if (choice === '1') return dial('sales');
  if (choice === '2') return dial('support');
  await play('busy', { repeat: 2 });
  await hangup();
}
`;
    assert.equal((await a.request('PUT', '/dialplans/menu', { source })).status, 201);
    await page.goto('/dialplans/menu');
    const testRun = page.getByRole('form', { name: 'Test run' });
    const actions = page.getByTestId('test-actions');
    await testRun.getByLabel('Digits the caller presses').fill('2');
    await testRun.getByRole('button', { name: 'Run test' }).click();
    await actions.getByText('collect (prompt beep) → “2”').waitFor();
    const texts = async () => (await actions.locator('li .mono').allTextContents()).map((t) => t.trim());
    assert.deepEqual(await texts(), ['answer', 'collect (prompt beep) → “2”', 'dial support → no-answer']);

    await testRun.getByLabel('Digits the caller presses').fill('');
    await testRun.getByRole('button', { name: 'Run test' }).click();
    await actions.getByText('collect (prompt beep) → no digits (timeout)').waitFor();
    assert.deepEqual(await texts(), ['answer', 'collect (prompt beep) → no digits (timeout)', 'play busy × 2', 'hangup']);
    assert.deepEqual(await seriousViolationsOfTestRun(), []);
  });

  async function seriousViolationsOfTestRun(): Promise<string[]> {
    const ctx = await browser.newContext({ baseURL: sw.httpUrl, bypassCSP: true });
    try {
      await ctx.addCookies([{ name: 'sid', value: a.cookieValue(), url: sw.httpUrl }]);
      const p = await ctx.newPage();
      await p.goto('/dialplans/menu');
      await p.getByLabel('Digits the caller presses').fill('1');
      await p.getByRole('button', { name: 'Run test' }).click();
      await p.getByTestId('test-actions').getByText('dial sales').waitFor();
      return await seriousViolations(p, ['form[aria-label="Test run"]']);
    } finally {
      await ctx.close();
    }
  }
});
