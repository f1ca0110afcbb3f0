/** The media settings as `server/config.ts` reads them. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../server/config.ts';

test("defaults: auto engine, relayed, bound and advertised on the SIP address, 30000-40000, 10 s / 60 s, browsers' public ICE candidates only", () => {
  const m = loadConfig({}).media;
  assert.deepEqual(m, {
    engine: 'auto',
    bindAddress: '127.0.0.1',
    advertisedAddress: '127.0.0.1',
    portMin: 30000,
    portMax: 40000,
    noRtpFlagMs: 10_000,
    noRtpHangupMs: 60_000,
    rtpengine: { binary: 'rtpengine', ng: null },
    iceCandidateAllow: null,
  });
});

test('the advertised address follows SIP_ADVERTISED_ADDRESS (a name is resolved when the engine starts)', () => {
  assert.equal(loadConfig({ SIP_HOST: '0.0.0.0', SIP_ADVERTISED_ADDRESS: '203.0.113.7:5060' }).media.advertisedAddress, '203.0.113.7');
  assert.equal(loadConfig({ SIP_HOST: '0.0.0.0', SIP_ADVERTISED_ADDRESS: '203.0.113.7' }).media.bindAddress, '0.0.0.0');
  assert.equal(loadConfig({ SIP_ADVERTISED_ADDRESS: 'sip.example.com' }).media.advertisedAddress, 'sip.example.com');
  assert.equal(loadConfig({ SIP_ADVERTISED_ADDRESS: 'sip.example.com', MEDIA_ADVERTISED_ADDRESS: '198.51.100.2' }).media.advertisedAddress, '198.51.100.2');
  assert.throws(() => loadConfig({ MEDIA_ADVERTISED_ADDRESS: '0.0.0.0' }), /MEDIA_ADVERTISED_ADDRESS/);
});

test('bad values are named', () => {
  assert.throws(() => loadConfig({ MEDIA_ENGINE: 'asterisk' }), /MEDIA_ENGINE/);
  assert.throws(() => loadConfig({ MEDIA_PORT_MIN: '5000', MEDIA_PORT_MAX: '5001' }), /MEDIA_PORT_MAX/);
  assert.throws(() => loadConfig({ MEDIA_PORT_MIN: '80' }), /MEDIA_PORT_MIN/);
  assert.throws(() => loadConfig({ MEDIA_NO_RTP_FLAG_SECONDS: '90', MEDIA_NO_RTP_HANGUP_SECONDS: '60' }), /MEDIA_NO_RTP_FLAG_SECONDS/);
  assert.throws(() => loadConfig({ RTPENGINE_NG: 'localhost' }), /RTPENGINE_NG/);
  assert.deepEqual(loadConfig({ RTPENGINE_NG: '10.0.0.5:2223', MEDIA_NO_RTP_HANGUP_SECONDS: '0' }).media.rtpengine.ng, { host: '10.0.0.5', port: 2223 });
});
