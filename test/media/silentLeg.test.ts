/**
 * A leg that stops sending audio: two real phones (baresip, behind NATs) in a call through the
 * relay, audio flowing; then bob's phone freezes (SIGSTOP: it sends nothing more). After
 * MEDIA_NO_RTP_FLAG_SECONDS his leg is flagged (a `channel.media` event the live view shows, a log
 * line "no audio from …" naming the channel and tenant), and after MEDIA_NO_RTP_HANGUP_SECONDS
 * the switch ends the call with cause `media-timeout`, which the call record gives as the reason.
 * For each engine. Media ports 32300–32499.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { CallEvent, LegMedia } from '../../contract/calls.ts';
import { eventually } from '../helpers/time.ts';
import { skipWithout } from '../interop/tools.ts';
import { recordOf } from '../calls/harness.ts';
import { skipEngine } from './engines.ts';
import { natCall } from './phoneCall.ts';

const FLAG_SECONDS = 1;
const HANGUP_SECONDS = 3;

const CASES = [
  { engine: 'embedded', ports: [32300, 32399], skip: false },
  { engine: 'rtpengine', ports: [32400, 32499], skip: skipEngine('rtpengine') },
] as const;

type MediaEvent = Extract<CallEvent, { type: 'channel.media' }>;

describe('a leg that stops sending audio', { skip: skipWithout('baresip', 'baresip'), timeout: 120_000 }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sipswitch-silent-leg-'));
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    if (!process.env.KEEP_TRACES) rmSync(dir, { recursive: true, force: true });
  });

  for (const { engine, ports, skip } of CASES) {
    test(`${engine}: is flagged, then its call is ended with media-timeout and the record says so`, { skip }, async () => {
      const logLines: string[] = [];
      const c = await natCall({
        engine,
        ports,
        dir,
        cleanups,
        env: { MEDIA_NO_RTP_FLAG_SECONDS: String(FLAG_SECONDS), MEDIA_NO_RTP_HANGUP_SECONDS: String(HANGUP_SECONDS) },
        switchOptions: { logLines },
      });
      // Audio flows both ways first: nobody is flagged while it does.
      await eventually('alice hears bob', () => c.alice.recordedSeconds() > 1.5, 15_000, 100);
      const bobLeg = c.log.idOf('B');
      const aliceLeg = c.log.idOf('A');
      const mediaOf = (id: string) => c.log.events.filter((e): e is MediaEvent => e.type === 'channel.media' && e.channelId === id);
      assert.ok(
        mediaOf(bobLeg).every((e) => e.media.silentSince === null),
        'bob is not flagged while he sends',
      );

      c.bob.freeze();
      const frozenAt = Date.now();
      const flagged = await eventually('bob flagged silent', () => mediaOf(bobLeg).find((e) => e.media.silentSince !== null), 10_000);
      // The live view shows it while the call goes on.
      const live = (await c.tenant.api.get('/calls')).body.items as Array<{ callId: string; channels: Array<{ id: string; media?: LegMedia }> }>;
      const liveBob = live.flatMap((call) => call.channels).find((ch) => ch.id === bobLeg);
      assert.ok(liveBob?.media?.silentSince, `the live view shows bob silent: ${JSON.stringify(liveBob)}`);
      assert.ok(
        mediaOf(aliceLeg).every((e) => e.media.silentSince === null),
        'alice, still sending, is not flagged',
      );
      const line = logLines.map((l) => JSON.parse(l) as { msg: string; channelId?: string; tenantId?: string }).find((l) => l.msg.startsWith('no audio from'));
      assert.ok(line, 'a log line says which leg is silent');
      assert.match(line.msg, /^no audio from the callee /);
      assert.equal(line.channelId, bobLeg);
      assert.equal(line.tenantId, c.tenant.id);

      await c.log.ended(20_000);
      const endedAt = c.log.events.find((e) => e.type === 'call.ended')!.at;
      // Not before the hang-up time counted from bob's last packet (a sweep may add a little).
      assert.ok(endedAt - frozenAt >= (HANGUP_SECONDS - 0.5) * 1000, `ended ${endedAt - frozenAt} ms after bob froze`);
      assert.ok(flagged.at < endedAt);
      c.log.assertWellFormed();
      assert.deepEqual(c.log.lifeOf('A').at(-1), 'hungup media-timeout switch');
      assert.deepEqual(c.log.lifeOf('B').at(-1), 'hungup media-timeout switch');
      const cdr = await recordOf(c.sw, c.tenant, c.log.events[0]!.callId);
      assert.equal(cdr.status, 'answered');
      assert.equal(cdr.hangupCause, 'media-timeout');
      assert.equal(cdr.hangupBy, 'switch');
      const bobInRecord = cdr.legs.find((l) => l.id === bobLeg)!;
      assert.ok(bobInRecord.media?.silentSince, "the record shows bob's leg went silent");
      assert.equal(cdr.legs.find((l) => l.id === aliceLeg)!.media?.silentSince, null);
      c.bob.resume();
    });
  }
});
