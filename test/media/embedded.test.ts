/**
 * The embedded relay's own limits and refusals: its port range runs out with a clear error and is
 * whole again after delete; an answer to an offer it never saw and SDP without audio are refused;
 * what it cannot do yet says so. And `auto` picks it when rtpengine is not installed; `direct`
 * leaves SDP alone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { EmbeddedRelay } from '../../server/media/embedded/embeddedRelay.ts';
import { MediaRequestError } from '../../server/media/engine.ts';
import { openMediaEngine } from '../../server/media/openMediaEngine.ts';
import { mediaSettings } from './engines.ts';
import { mediaTarget, RtpPhone } from './rtpPhone.ts';

describe('embedded relay limits', { timeout: 30_000 }, () => {
  let relay: EmbeddedRelay;
  let phone: RtpPhone;
  before(async () => {
    // Two RTP/RTCP pairs: 31900/31901 and 31902/31903.
    relay = new EmbeddedRelay({ bindAddress: '127.0.0.1', advertisedAddress: '127.0.0.1', portMin: 31900, portMax: 31903, silence: { flagMs: 0, endMs: 0 } });
    phone = await RtpPhone.open('p');
  });
  after(async () => {
    phone.close();
    await relay.close();
  });

  test('running out of ports is a clear error, and deleting a call gives its ports back', async () => {
    const offer = await relay.offer({ callId: 'c1', fromTag: 'A', toTag: 'B', sdp: phone.sdp() });
    assert.equal(mediaTarget(offer).port % 2, 0, 'RTP on an even port');
    assert.deepEqual(relay.portUsage, { used: 2, size: 2 });
    await assert.rejects(
      relay.offer({ callId: 'c2', fromTag: 'A', toTag: 'B', sdp: phone.sdp() }),
      (err: Error) => err instanceof MediaRequestError && /no free media port pair left in 31900-31903/.test(err.message),
    );
    await relay.delete({ callId: 'c1' });
    assert.deepEqual(relay.portUsage, { used: 0, size: 2 });
    await relay.offer({ callId: 'c2', fromTag: 'A', toTag: 'B', sdp: phone.sdp() });
    await relay.delete({ callId: 'c2' });
    assert.equal(relay.portUsage.used, 0);
  });

  test('an answer to an offer the relay never saw, and SDP without audio, are refused', async () => {
    await assert.rejects(relay.answer({ callId: 'nope', fromTag: 'A', toTag: 'B', sdp: phone.sdp() }), MediaRequestError);
    const video = 'v=0\r\no=- 1 1 IN IP4 127.0.0.99\r\ns=-\r\nc=IN IP4 127.0.0.99\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n';
    await assert.rejects(relay.offer({ callId: 'v', fromTag: 'A', toTag: 'B', sdp: video }), /no audio stream/);
    assert.equal(relay.portUsage.used, 0, 'a refused offer holds no ports');
  });

  test('prompts and recordings into a leg the switch did not answer are refused, and say why', async () => {
    await assert.rejects(relay.play({ callId: 'c', tag: 'A', file: '/x.wav' }), /no leg A in call c/);
    await relay.offer({ callId: 'r', fromTag: 'A', toTag: 'B', sdp: phone.sdp() });
    await assert.rejects(relay.startRecording({ callId: 'r', tag: 'A', file: '/x.wav' }), /relayed, not answered by the switch/);
    await relay.delete({ callId: 'r' });
  });
});

describe('choosing the engine', { timeout: 30_000 }, () => {
  const log = pino({ level: 'silent' });
  const dataDir = '/nonexistent-data-dir-not-needed';

  test('auto without an rtpengine binary is the embedded relay', async () => {
    const engine = await openMediaEngine(mediaSettings({ engine: 'auto', rtpengine: { binary: 'no-such-rtpengine-binary', ng: null } }), { log, dataDir });
    assert.equal(engine.kind, 'embedded');
    await engine.close();
  });

  test('an advertised name is resolved once; one that does not resolve stops the start with a clear error', async () => {
    const engine = await openMediaEngine(mediaSettings({ engine: 'embedded', advertisedAddress: 'localhost' }), { log, dataDir });
    const phone = await RtpPhone.open('n');
    assert.equal(mediaTarget(await engine.offer({ callId: 'c', fromTag: 'A', toTag: 'B', sdp: phone.sdp() })).address, '127.0.0.1');
    phone.close();
    await engine.close();
    await assert.rejects(
      openMediaEngine(mediaSettings({ engine: 'embedded', advertisedAddress: 'no-such-host.invalid' }), { log, dataDir }),
      /no-such-host\.invalid does not resolve.*MEDIA_ADVERTISED_ADDRESS/,
    );
  });

  test('direct media leaves SDP as it is', async () => {
    const engine = await openMediaEngine(mediaSettings({ engine: 'direct' }), { log, dataDir });
    assert.equal(engine.kind, 'direct');
    const phone = await RtpPhone.open('d');
    const sdp = phone.sdp();
    assert.equal(await engine.offer({ callId: 'c', fromTag: 'A', toTag: 'B', sdp }), sdp);
    assert.equal(await engine.stats('c'), undefined);
    phone.close();
    await engine.close();
  });
});
