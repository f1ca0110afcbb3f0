/**
 * The live calls as the portal shows them, folded from the snapshot of GET /calls and the events of
 * GET /events (server/calls/events.ts). Channels keep their stable ids from creation to hang-up;
 * an ended call stays visible for a while, with how each leg ended.
 */
import type { BridgeSnapshot, CallEvent, ChannelSnapshot, ChannelState, LiveCall, LiveEvent } from '../api/types.ts';

export interface LiveChannel extends ChannelSnapshot {
  hangupBy?: 'caller' | 'callee' | 'switch';
}

export interface LiveCallView {
  callId: string;
  startedAt: number;
  endedAt?: number;
  channels: Record<string, LiveChannel>;
  bridges: Record<string, BridgeSnapshot>;
  dialplan?: { name: string; version: number; outcome?: string; error?: string };
  logs: Array<{ at: number; level: string; message: string }>;
}

export interface LiveState {
  calls: Record<string, LiveCallView>;
  /** Most recent first. */
  ended: LiveCallView[];
  /** Most recent last. */
  events: CallEvent[];
  /** Calls that ended since the page loaded: lists of call records refresh when it changes. */
  endedCount: number;
  /** Provider registration changes since the page loaded: provider states reload when it changes. */
  providerChanges: number;
}

export const emptyLiveState: LiveState = { calls: {}, ended: [], events: [], endedCount: 0, providerChanges: 0 };

const KEEP_ENDED = 20;
const KEEP_EVENTS = 200;
const KEEP_LOGS = 50;
const RANK: Record<ChannelState, number> = { down: 0, ringing: 1, up: 2, hungup: 3 };

const newCall = (callId: string, startedAt: number): LiveCallView => ({ callId, startedAt, channels: {}, bridges: {}, logs: [] });

/** A channel snapshot replaces an older one, never a later one (a buffered event may arrive late). */
function withChannel(call: LiveCallView, ch: LiveChannel): LiveCallView {
  const old = call.channels[ch.id];
  if (old && RANK[old.state] > RANK[ch.state]) return call;
  return { ...call, startedAt: Math.min(call.startedAt, ch.createdAt), channels: { ...call.channels, [ch.id]: ch } };
}

/** Replaces the current calls with the server's snapshot, keeping what events taught about them. */
export function applySnapshot(state: LiveState, snapshot: LiveCall[]): LiveState {
  const calls: Record<string, LiveCallView> = {};
  for (const c of snapshot) {
    let view = state.calls[c.callId] ?? newCall(c.callId, c.startedAt);
    for (const ch of c.channels) view = withChannel(view, ch);
    view = { ...view, bridges: Object.fromEntries(c.bridges.map((b) => [b.id, b])) };
    calls[c.callId] = view;
  }
  return { ...state, calls };
}

export function applyEvent(state: LiveState, e: LiveEvent): LiveState {
  if (e.type === 'provider.status' || e.type === 'provider.health') return { ...state, providerChanges: state.providerChanges + 1 };
  const events = [...state.events.slice(-(KEEP_EVENTS - 1)), e];
  if (e.type === 'call.ended') {
    const call = state.calls[e.callId];
    const { [e.callId]: _gone, ...calls } = state.calls;
    const ended = call ? [{ ...call, endedAt: e.at }, ...state.ended].slice(0, KEEP_ENDED) : state.ended;
    return { ...state, calls, ended, events, endedCount: state.endedCount + 1 };
  }
  let call = state.calls[e.callId] ?? newCall(e.callId, e.at);
  switch (e.type) {
    case 'channel.created':
    case 'channel.state':
      call = withChannel(call, e.channel);
      break;
    case 'channel.hungup':
      call = withChannel(call, { ...e.channel, hangupCause: e.cause, sipStatus: e.sipStatus ?? e.channel.sipStatus, hangupBy: e.by });
      break;
    case 'channel.media': {
      const channel = call.channels[e.channelId];
      if (channel) call = { ...call, channels: { ...call.channels, [e.channelId]: { ...channel, media: e.media } } };
      break;
    }
    case 'bridge.created':
    case 'bridge.entered':
    case 'bridge.left':
      call = { ...call, bridges: { ...call.bridges, [e.bridge.id]: e.bridge } };
      break;
    case 'bridge.destroyed': {
      const { [e.bridge.id]: _gone, ...bridges } = call.bridges;
      call = { ...call, bridges };
      break;
    }
    case 'dialplan.started':
      call = { ...call, dialplan: { name: e.dialplan.name, version: e.dialplan.version } };
      break;
    case 'dialplan.ended':
      call = { ...call, dialplan: { name: call.dialplan?.name ?? '?', version: call.dialplan?.version ?? 0, outcome: e.outcome, error: e.error } };
      break;
    case 'dialplan.log':
      call = { ...call, logs: [...call.logs.slice(-(KEEP_LOGS - 1)), { at: e.at, level: e.level, message: e.message }] };
      break;
    default:
      break;
  }
  return { ...state, calls: { ...state.calls, [e.callId]: call }, events };
}

/** Channels of a call in the order they were created. */
export const channelsOf = (call: LiveCallView): LiveChannel[] => Object.values(call.channels).sort((a, b) => a.createdAt - b.createdAt);
