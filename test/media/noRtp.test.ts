/**
 * No-RTP detection, for each engine: in an answered call, a phone that stops sending is flagged
 * silent, reported resumed when it sends again, and timed out after the longer time; the phone
 * that keeps talking is never flagged, and a call on hold or still in early media is not watched.
 * The times are short here; rtpengine reports the last packet to the second, so its are longer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { MediaEvent } from '../../server/media/engine.ts';
import { ENGINES, skipEngine, startEngine, type TestEngine } from './engines.ts';
import { mediaTarget, RtpPhone, until } from './rtpPhone.ts';

const SETTINGS = {
  embedded: { portMin: 31400, portMax: 31499, noRtpFlagMs: 1000, noRtpHangupMs: 2500, sweepMs: 100 },
  rtpengine: { portMin: 31500, portMax: 31599, noRtpFlagMs: 2000, noRtpHangupMs: 4000, sweepMs: 250 },
} as const;

for (const name of ENGINES) {
  describe(`no-RTP detection: ${name}`, { skip: skipEngine(name), timeout: 60_000 }, () => {
    let t: TestEngine;
    const phones: RtpPhone[] = [];
    const phone = async (n: string) => {
      const p = await RtpPhone.open(n);
      phones.push(p);
      return p;
    };
    before(async () => {
      const { sweepMs, ...settings } = SETTINGS[name];
      t = await startEngine(name, settings, sweepMs);
    });
    after(async () => {
      for (const p of phones) p.close();
      await t?.close();
    });

    /** Sends audio from `p` to `port` every 20 ms until the returned function is called. */
    function keepTalking(p: RtpPhone, port: number): () => Promise<void> {
      let stop = false;
      const loop = (async () => {
        for (let n = 0; !stop; n++) await p.sendAudio(port, 1, { from: n, everyMs: 20 });
      })();
      return async () => {
        stop = true;
        await loop;
      };
    }

    const eventsOf = (callId: string) => t.events.filter((e) => e.callId === callId).map((e: MediaEvent) => `${e.type}:${e.tag}`);

    test('a phone that stops sending is flagged, resumes, and times out; its peer, talking, is never flagged', async () => {
      const [a, b] = [await phone('talks'), await phone('stops')];
      const [held1, held2, ringing1, ringing2] = [await phone('h1'), await phone('h2'), await phone('r1'), await phone('r2')];

      // A held call and a call still in early media, silent throughout: neither may be reported.
      await t.engine.offer({ callId: 'held', fromTag: 'A', toTag: 'B', sdp: held1.sdp() });
      await t.engine.answer({ callId: 'held', fromTag: 'A', toTag: 'B', sdp: held2.sdp() });
      await t.engine.offer({ callId: 'held', fromTag: 'A', toTag: 'B', sdp: held1.sdp({ direction: 'sendonly' }) });
      await t.engine.answer({ callId: 'held', fromTag: 'A', toTag: 'B', sdp: held2.sdp({ direction: 'recvonly' }) });
      await t.engine.offer({ callId: 'ringing', fromTag: 'A', toTag: 'B', sdp: ringing1.sdp() });
      await t.engine.answer({ callId: 'ringing', fromTag: 'A', toTag: 'B', sdp: ringing2.sdp(), early: true });

      const callId = 'watched';
      const offer = await t.engine.offer({ callId, fromTag: 'A', toTag: 'B', sdp: a.sdp() });
      const answer = await t.engine.answer({ callId, fromTag: 'A', toTag: 'B', sdp: b.sdp() });
      const stopA = keepTalking(a, mediaTarget(answer).port);
      try {
        await b.sendAudio(mediaTarget(offer).port, 5);
        await until('B flagged silent', () => eventsOf(callId).includes('media.silent:B'));
        await b.sendAudio(mediaTarget(offer).port, 5, { from: 10 });
        await until('B reported resumed', () => eventsOf(callId).includes('media.resumed:B'));
        await until('B timed out', () => eventsOf(callId).includes('media.timeout:B'), 15_000);
        assert.deepEqual(eventsOf(callId), ['media.silent:B', 'media.resumed:B', 'media.silent:B', 'media.timeout:B']);
        const timeout = t.events.find((e) => e.type === 'media.timeout' && e.callId === callId)!;
        assert.ok(timeout.type === 'media.timeout' && timeout.silentMs >= SETTINGS[name].noRtpHangupMs);
      } finally {
        await stopA();
      }
      assert.deepEqual(eventsOf('held'), [], 'a held call is not watched');
      assert.deepEqual(eventsOf('ringing'), [], 'a call in early media is not watched');

      // Resuming the held call watches it again: both phones are silent, so both are flagged.
      await t.engine.offer({ callId: 'held', fromTag: 'A', toTag: 'B', sdp: held1.sdp() });
      await t.engine.answer({ callId: 'held', fromTag: 'A', toTag: 'B', sdp: held2.sdp() });
      await until('both legs of the resumed call flagged', () => ['media.silent:A', 'media.silent:B'].every((e) => eventsOf('held').includes(e)));
      for (const id of ['watched', 'held', 'ringing']) await t.engine.delete({ callId: id });
    });
  });
}
