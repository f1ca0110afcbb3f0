/**
 * The lanes of a call's ladder: the caller's side on the left (the peer of the first message), the
 * switch next, then every other peer in the order it first appears (the legs placed).
 */
import type { StoryEntry, TracedMessage } from '../../../contract/callTrace.ts';

export const SWITCH_LANE = 'switch';

export const peerLane = (m: TracedMessage) => `${m.peer.address}:${m.peer.port}`;

export function lanesOf(entries: readonly StoryEntry[]): string[] {
  const peers: string[] = [];
  for (const e of entries) if (e.kind === 'sip' && !peers.includes(peerLane(e.message))) peers.push(peerLane(e.message));
  return peers.length ? [peers[0]!, SWITCH_LANE, ...peers.slice(1)] : [SWITCH_LANE];
}

/** What an arrow says: the method of a request, the status and reason of a response. */
export function arrowLabel(m: TracedMessage): string {
  const [a, b, ...rest] = m.firstLine.split(' ');
  return a === 'SIP/2.0' ? `${b} ${rest.join(' ')}` : (a ?? '');
}
