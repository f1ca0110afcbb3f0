/**
 * Issue 18, a browser as a phone: Chromium's WebRTC (ICE, DTLS-SRTP, RTCP multiplexed) bridged by
 * rtpengine to a plain RTP/G.711 phone (baresip), each way: the phone calls the browser, and the
 * browser calls the phone (its own offer, where it is ICE's controlling agent). The test carries the SIP
 * over a WebSocket itself (../helpers/sipPhone.ts, registered as the browser's account) and hands
 * the SDP to and from an RTCPeerConnection in the page, as a softphone library would. The browser's
 * microphone is a 440 Hz tone from a file, the phone's an 880 Hz sine: each must hear the other
 * (the phone's recording holds 440 Hz; the page's WebRTC statistics count packets and an audio
 * level received). The SDP the switch sends the browser is WebRTC's, the phone's plain RTP.
 *
 * Only loopback is used: Chromium may gather loopback candidates (--allow-loopback-in-peer-connection),
 * and every other candidate is taken out of its SDP before the switch sees it (and the switch, with
 * ICE_CANDIDATE_ALLOW on loopback, would take them out too).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { noChromium } from '../helpers/chromium.ts';
import type { Phone } from '../helpers/baresipPhone.ts';
import { answeredBy, body, header, placeAuthenticated, uriOf } from '../helpers/sipDialog.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { assertPageHears, assertPhoneHears, RECORD_PEER_CONNECTIONS, registeredPhone as registeredBaresip, webrtcChromium } from '../helpers/webrtc.ts';
import { skipWithout } from '../interop/tools.ts';
import { dialplanSource, EventLog, newTenant, type Account, type Tenant } from '../calls/harness.ts';
import { skipEngine } from './engines.ts';

const BROWSER_HZ = 440;
const PHONE_HZ = 880;
const skip = skipWithout('baresip', 'baresip') || noChromium || skipEngine('rtpengine');

/** The SDP with only its loopback UDP candidates, its connection line on loopback. */
function loopbackOnly(sdp: string): string {
  const lines = sdp.split('\r\n').filter((l) => !l.startsWith('a=candidate:') || / udp \d+ 127\.0\.0\.1 /.test(l));
  return lines.join('\r\n').replace(/^c=IN IP4 .*$/m, 'c=IN IP4 127.0.0.1');
}

/** What the page's peer connection received: packets and the loudest audio level seen. */
describe('a browser (WebRTC) and a plain phone talk through rtpengine [chromium, baresip, rtpengine]', { skip, timeout: 120_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sipswitch-webrtc-'));
  const cleanups: Array<() => Promise<unknown>> = [];
  let sw: TestSwitch;
  let tenant: Tenant;
  let browser: Browser;

  before(async () => {
    sw = await startTestSwitch('sqlite', { env: { MEDIA_ENGINE: 'rtpengine', ICE_CANDIDATE_ALLOW: '127.0.0.0/8' } });
    cleanups.push(() => sw.close());
    tenant = await newTenant(sw);
    await tenant.dialplan('default', dialplanSource('  await dial(call.to.user, { timeout: 15 });'));
    browser = await webrtcChromium(dir, BROWSER_HZ);
    cleanups.push(() => browser.close());
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  /** A page of the portal's origin (a secure context on 127.0.0.1) with a peer connection and the microphone on it. */
  async function webrtcPage(): Promise<Page> {
    const page = await browser.newPage();
    cleanups.push(() => page.close());
    await page.addInitScript(RECORD_PEER_CONNECTIONS);
    await page.goto(sw.httpUrl);
    await page.evaluate(async () => {
      const pc = new RTCPeerConnection({ iceServers: [] });
      // Played, as a softphone plays it: Chromium measures the level of what it renders.
      pc.addEventListener('track', (e) => {
        const audio = new Audio();
        audio.srcObject = e.streams[0] ?? new MediaStream([e.track]);
        void audio.play();
      });
      const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
      for (const t of mic.getTracks()) pc.addTrack(t, mic);
    });
    return page;
  }

  /** The page's local description once its candidates are gathered, after `step` (createOffer or createAnswer). */
  async function localSdp(page: Page, remoteOffer?: string): Promise<string> {
    const sdp = await page.evaluate(async (offer) => {
      const pc = (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs.at(-1)!;
      if (offer) await pc.setRemoteDescription({ type: 'offer', sdp: offer });
      await pc.setLocalDescription(offer ? await pc.createAnswer() : await pc.createOffer());
      await new Promise<void>((resolve) => {
        if (pc.iceGatheringState === 'complete') return resolve();
        pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
        setTimeout(resolve, 5000);
      });
      return pc.localDescription!.sdp;
    }, remoteOffer);
    return loopbackOnly(sdp);
  }

  const registeredPhone = (name: string, hz: number) => registeredBaresip({ tenant, dir, sipPort: sw.sipPort, name, hz, cleanups });

  /** The browser's account, registered over a WebSocket the test holds. */
  async function browserSip(): Promise<{ sip: TestPhone; account: Account }> {
    const account = await tenant.account();
    const sip = await TestPhone.open('ws', sw.running.httpPort, '127.0.0.1', { origin: `http://127.0.0.1:${sw.running.httpPort}` });
    cleanups.push(async () => sip.close());
    assert.equal((await sip.register({ user: account.username, password: account.password })).final.status, 200);
    return { sip, account };
  }

  /** Both ways: the page receives the phone's audio, the phone records the browser's tone. */
  async function assertBothHear(page: Page, phone: Phone): Promise<void> {
    await assertPageHears(page, phone);
    await assertPhoneHears(phone, BROWSER_HZ);
  }

  function assertWebrtcSdp(sdp: string, what: string): void {
    assert.match(sdp, /^m=audio \d+ UDP\/TLS\/RTP\/SAVPF /m, `${what}: WebRTC's profile`);
    assert.match(sdp, /^a=fingerprint:/m, `${what}: DTLS`);
    assert.match(sdp, /^a=ice-ufrag:/m, `${what}: ICE`);
    assert.match(sdp, /^a=candidate:\S+ 1 (udp|UDP) \d+ 127\.0\.0\.1 /m, `${what}: the relay's candidate on loopback`);
    assert.match(sdp, /^a=rtcp-mux/m, `${what}: RTCP multiplexed`);
  }

  test('a phone calls the browser: the offer it gets is WebRTC, and both hear each other', async () => {
    const { phone: carol } = await registeredPhone('carol', PHONE_HZ);
    const { sip, account } = await browserSip();
    const page = await webrtcPage();
    const log = new EventLog(sw, tenant.id);
    cleanups.push(async () => log.stop());
    const mark = sip.received.length;
    assert.ok((await carol.command('dial', `sip:${account.username}@127.0.0.1`)).ok);
    const invite = await sip.waitFor((raw) => raw.startsWith('INVITE '), 10_000, mark);
    const offer = body(invite);
    assertWebrtcSdp(offer, "the switch's offer to the browser");
    const answer = await localSdp(page, offer);
    const me = answeredBy(sip, invite);
    sip.reply(invite, 200, 'OK', [`Contact: <sip:${account.username}@127.0.0.1:${sip.localPort};transport=ws>`, 'Content-Type: application/sdp'], answer);
    await sip.waitFor((raw) => raw.startsWith('ACK ') && header(raw, 'Call-ID') === me.callId, 10_000, mark);
    assert.equal(uriOf(header(invite, 'Contact')) !== '', true, 'the INVITE names where to send in the dialog');
    await assertBothHear(page, carol);
    const byeMark = sip.received.length;
    assert.ok((await carol.command('hangup')).ok);
    const bye = await sip.waitFor((raw) => raw.startsWith('BYE '), 10_000, byeMark);
    sip.reply(bye, 200, 'OK');
    await log.ended();
  });

  test('the browser calls a phone: the answer it gets is WebRTC, and both hear each other', async () => {
    const { phone: bob, account: bobAccount } = await registeredPhone('bob', PHONE_HZ);
    const { sip, account } = await browserSip();
    const page = await webrtcPage();
    const leg = await placeAuthenticated(sip, sw.running.httpPort, account, bobAccount.username, await localSdp(page));
    assertWebrtcSdp(leg.answer, "the switch's answer to the browser");
    await page.evaluate(async (sdp) => (window as unknown as { __pcs: RTCPeerConnection[] }).__pcs.at(-1)!.setRemoteDescription({ type: 'answer', sdp }), leg.answer);
    await assertBothHear(page, bob);
  });
});
