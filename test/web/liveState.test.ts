/** The live view's fold of GET /calls and the event stream, as the portal applies them. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CallEvent, ChannelSnapshot } from '../../web/src/api/types.ts';
import { applyEvent, applySnapshot, channelsOf, emptyLiveState } from '../../web/src/live/liveState.ts';

const channel = (id: string, state: ChannelSnapshot['state'], createdAt: number): ChannelSnapshot => ({
  id,
  callId: 'call-1',
  tenantId: 't',
  direction: id === 'a' ? 'inbound' : 'outbound',
  state,
  protocolId: `sip-${id}`,
  from: { user: 'alice', host: 'h', uri: 'sip:alice@h' },
  to: { user: 'bob', host: 'h', uri: 'sip:bob@h' },
  peer: { address: '127.0.0.1', port: 5060, transport: 'udp' },
  createdAt,
});
let seq = 0;
const ev = (e: Record<string, unknown>) => ({ seq: ++seq, at: 1000 + seq, nodeId: 'n', tenantId: 't', callId: 'call-1', ...e }) as CallEvent;

test('a call appears, rings, connects and ends; its channels keep their ids', () => {
  let s = emptyLiveState;
  s = applyEvent(s, ev({ type: 'channel.created', channel: channel('a', 'down', 1) }));
  s = applyEvent(s, ev({ type: 'dialplan.started', channelId: 'a', executionId: 'x', dialplan: { name: 'default', version: 3 } }));
  s = applyEvent(s, ev({ type: 'channel.created', channel: channel('b', 'down', 2) }));
  s = applyEvent(s, ev({ type: 'channel.state', channel: channel('b', 'ringing', 2) }));
  s = applyEvent(s, ev({ type: 'dialplan.log', channelId: 'a', level: 'info', message: 'hello' }));
  s = applyEvent(s, ev({ type: 'channel.state', channel: channel('a', 'up', 1) }));
  s = applyEvent(s, ev({ type: 'channel.state', channel: channel('b', 'up', 2) }));
  const live = s.calls['call-1']!;
  assert.deepEqual(
    channelsOf(live).map((c) => [c.id, c.state]),
    [
      ['a', 'up'],
      ['b', 'up'],
    ],
  );
  assert.deepEqual(live.dialplan, { name: 'default', version: 3 });
  assert.deepEqual(
    live.logs.map((l) => l.message),
    ['hello'],
  );

  s = applyEvent(s, ev({ type: 'channel.hungup', channel: channel('a', 'hungup', 1), cause: 'normal', by: 'caller' }));
  s = applyEvent(s, ev({ type: 'channel.hungup', channel: channel('b', 'hungup', 2), cause: 'normal', by: 'caller', sipStatus: 200 }));
  s = applyEvent(s, ev({ type: 'call.ended' }));
  assert.deepEqual(s.calls, {});
  assert.equal(s.endedCount, 1);
  const ended = s.ended[0]!;
  assert.ok(ended.endedAt);
  assert.deepEqual(
    channelsOf(ended).map((c) => [c.id, c.state, c.hangupCause, c.hangupBy]),
    [
      ['a', 'hungup', 'normal', 'caller'],
      ['b', 'hungup', 'normal', 'caller'],
    ],
  );
  assert.equal(s.events.length, seq);
});

test('an event held while the snapshot loaded never takes a channel back to an earlier state', () => {
  const snapshot = [{ callId: 'call-1', startedAt: 1, channels: [channel('a', 'up', 1), channel('b', 'up', 2)], bridges: [] }];
  let s = applySnapshot(emptyLiveState, snapshot);
  s = applyEvent(s, ev({ type: 'channel.state', channel: channel('b', 'ringing', 2) }));
  assert.equal(s.calls['call-1']!.channels.b!.state, 'up');
  // A call the snapshot no longer lists has ended while the stream was away.
  s = applySnapshot(s, []);
  assert.deepEqual(s.calls, {});
});

test('a provider status change counts as such, and is no call', () => {
  const s = applyEvent(emptyLiveState, {
    type: 'provider.status',
    tenantId: 't',
    at: 5,
    provider: { providerId: 'p', state: 'registered', lastStatus: 200, lastReason: 'OK', lastError: null },
  });
  assert.deepEqual(s.calls, {});
  assert.deepEqual(s.events, []);
  assert.equal(s.providerChanges, 1);
});

test("a leg's audio (silent, its figures) reaches its channel, also after it hung up, and a later channel state keeps it", () => {
  let s = emptyLiveState;
  s = applyEvent(s, ev({ type: 'channel.created', channel: channel('a', 'up', 1) }));
  const silent = { silentSince: 5000, quality: null };
  s = applyEvent(s, ev({ type: 'channel.media', channelId: 'a', media: silent }));
  assert.deepEqual(s.calls['call-1']!.channels.a!.media, silent);
  s = applyEvent(s, ev({ type: 'channel.hungup', channel: { ...channel('a', 'hungup', 1), media: silent }, cause: 'media-timeout', by: 'switch' }));
  const final = { silentSince: 5000, quality: { fromPhone: { packets: 10, lost: 0, jitterMs: 1 }, toPhone: { packets: 400 }, flowing: { fromPhone: true, toPhone: true } } };
  s = applyEvent(s, ev({ type: 'channel.media', channelId: 'a', media: final }));
  assert.deepEqual(s.calls['call-1']!.channels.a!.media, final);
  // An event for a channel the view does not know changes nothing.
  const before = s.calls['call-1'];
  s = applyEvent(s, ev({ type: 'channel.media', channelId: 'nobody', media: final }));
  assert.deepEqual(s.calls['call-1']!.channels, before!.channels);
});
