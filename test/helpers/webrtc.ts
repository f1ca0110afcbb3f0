/**
 * Browsers as phones in tests: Chromium whose microphone is a tone from a file, allowed to gather
 * loopback ICE candidates (tests keep media on loopback), playing what it receives; every
 * RTCPeerConnection a page makes is recorded (`RECORD_PEER_CONNECTIONS`), so a test can read the
 * statistics of the page's latest one, whoever made it (the test, or the portal's softphone).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { writeWav } from '../../server/media/audio/wav.ts';
import { tone } from '../media/audioSignal.ts';
import type { ApiClient } from './api.ts';
import { startPhone, type Phone } from './baresipPhone.ts';
import { launchChromium } from './chromium.ts';
import { eventually } from './time.ts';
import { detectTone, readWav } from './tone.ts';
import { waitFor } from '../interop/tools.ts';

/** An init script for a page or context: each RTCPeerConnection made goes into `window.__pcs`. */
export const RECORD_PEER_CONNECTIONS = `(() => {
  const Original = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = class extends Original {
    constructor(...args) { super(...args); window.__pcs.push(this); }
  };
})();`;

/** Chromium with a `hz` tone as its microphone (the file written in `dir`; Chromium loops it). */
export async function webrtcChromium(dir: string, hz: number): Promise<Browser> {
  const mic = path.join(dir, `mic-${hz}.wav`);
  writeFileSync(mic, writeWav(tone(hz, 5000, 48_000), 48_000));
  return launchChromium([
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${mic}`,
    '--allow-loopback-in-peer-connection',
    '--autoplay-policy=no-user-gesture-required',
  ]);
}

interface Received {
  packets: number;
  level: number;
  state: string;
}

/** What the page's latest peer connection received: packets, and the loudest audio level seen. */
async function received(page: Page): Promise<Received> {
  return page.evaluate(async () => {
    const w = window as unknown as { __pcs?: RTCPeerConnection[]; loudest?: number };
    const pc = w.__pcs?.at(-1);
    if (!pc) return { packets: 0, level: 0, state: 'none' };
    let packets = 0;
    (await pc.getStats()).forEach((s: { type: string; kind?: string; packetsReceived?: number; audioLevel?: number }) => {
      if (s.type !== 'inbound-rtp' || s.kind !== 'audio') return;
      packets = s.packetsReceived ?? 0;
      w.loudest = Math.max(w.loudest ?? 0, s.audioLevel ?? 0);
    });
    return { packets, level: w.loudest ?? 0, state: pc.connectionState };
  });
}

/** The page's call is connected and it hears `phone` (packets and an audio level in its WebRTC statistics). */
export async function assertPageHears(page: Page, phone: Phone): Promise<void> {
  await page.evaluate(() => delete (window as unknown as { loudest?: number }).loudest);
  await eventually(
    'the browser receives audio',
    async () => {
      const r = await received(page);
      return r.state === 'connected' && r.packets > 100 && r.level > 0.05;
    },
    20_000,
    200,
  ).catch(async (err: Error) => {
    throw new Error(`${err.message}: ${JSON.stringify(await received(page))}\n${phone.output().slice(-2000)}`);
  });
}

/** The phone's recording holds the browser's `hz` tone (past its first second). */
export async function assertPhoneHears(phone: Phone, hz: number): Promise<void> {
  await eventually(`${phone.name} recorded 4 s`, () => phone.recordedSeconds() > 4, 20_000, 200);
  const wav = readWav(phone.received()!);
  const report = detectTone({ ...wav, samples: wav.samples.subarray(wav.sampleRate) }, hz);
  const share = report.windows ? report.withTone / report.windows : 0;
  assert.ok(share > 0.6, `${phone.name} heard the browser's ${hz} Hz in ${Math.round(share * 100)} % of ${report.seconds.toFixed(1)} s`);
}

/**
 * A baresip phone answering at once, its microphone a `hz` tone, registered (over UDP to `sipPort`)
 * as a new account of the tenant; stopped by `cleanups`.
 */
export async function registeredPhone<A extends { username: string; password: string }>(o: {
  tenant: { account(): Promise<A>; api: ApiClient };
  dir: string;
  sipPort: number;
  name: string;
  hz: number;
  cleanups: Array<() => Promise<unknown>>;
}): Promise<{ phone: Phone; account: A }> {
  const account = await o.tenant.account();
  const phone = await startPhone(o.dir, o.name, account, { answer: 'auto', outboundPort: o.sipPort, tone: o.hz });
  o.cleanups.push(async () => {
    phone.close();
    await phone.stop();
  });
  await waitFor(`${o.name} registered`, 15_000, async () => {
    const items = (await o.tenant.api.get('/registrations')).body.items as Array<{ username: string }>;
    return items.some((r) => r.username === account.username) || undefined;
  });
  return { phone, account };
}
