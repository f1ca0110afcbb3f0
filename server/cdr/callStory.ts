/**
 * A call's story: its SIP messages (the trace), its legs' changes of state and its dialplan's log
 * lines, in one time order, as the portal draws it and the text download tells it.
 */
import type { CallStoryView, StoryEntry, TracedMessage } from '../../contract/callTrace.ts';
import type { Cdr, CdrLeg } from '../domain/cdr.ts';

/** A, B, C…: the caller's leg first, then the legs placed in the order they were created. */
export function legLetters(legs: readonly CdrLeg[]): Map<string, string> {
  const ordered = [...legs].sort((a, b) => (a.direction === b.direction ? a.createdAt - b.createdAt : a.direction === 'inbound' ? -1 : 1));
  return new Map(ordered.map((l, i) => [l.id, String.fromCharCode(65 + (i % 26))]));
}

function legEntries(leg: CdrLeg, letter: string): StoryEntry[] {
  const e = (at: number | undefined, what: string): StoryEntry[] => (at === undefined ? [] : [{ kind: 'leg', at, channelId: leg.id, leg: letter, what }]);
  const ended = [leg.hangupCause, leg.hangupBy && `by ${leg.hangupBy}`, leg.sipStatus && `SIP ${leg.sipStatus}`].filter(Boolean).join(', ');
  return [
    ...e(leg.createdAt, `${leg.direction} leg ${leg.from.user} → ${leg.to.user}${leg.target ? ` (dialled ${leg.target})` : ''}`),
    ...e(leg.ringingAt, 'ringing'),
    ...e(leg.answeredAt, 'answered'),
    ...e(leg.endedAt, `ended${ended ? `: ${ended}` : ''}`),
  ];
}

/** Stable for equal times: a leg's state before the log line before the message that caused it to be seen. */
const ORDER: Record<StoryEntry['kind'], number> = { leg: 0, log: 1, sip: 2 };

export function storyOf(record: Pick<Cdr, 'callId' | 'legs' | 'log'>, trace: { messages: TracedMessage[]; dropped: number }, local: CallStoryView['local']): CallStoryView {
  const letters = legLetters(record.legs);
  const entries: StoryEntry[] = [
    ...record.legs.flatMap((l) => legEntries(l, letters.get(l.id)!)),
    ...record.log.map((l): StoryEntry => ({ kind: 'log', at: l.at, level: l.level, message: l.message })),
    ...trace.messages.map((m): StoryEntry => ({ kind: 'sip', at: m.at, message: m })),
  ];
  entries.sort((a, b) => a.at - b.at || ORDER[a.kind] - ORDER[b.kind]);
  return { callId: record.callId, local, entries, dropped: trace.dropped };
}

/** The story as plain text: one heading line per entry, each SIP message in full below its own. */
export function storyText(story: CallStoryView): string {
  const out = [`call ${story.callId}; the switch at ${story.local.address}:${story.local.port}`, ''];
  for (const e of story.entries) {
    const t = new Date(e.at).toISOString();
    if (e.kind === 'leg') out.push(`${t}  leg ${e.leg} ${e.what}  [${e.channelId}]`);
    else if (e.kind === 'log') out.push(`${t}  dialplan ${e.level}: ${e.message}`);
    else {
      const m = e.message;
      const arrow = m.direction === 'in' ? `${m.peer.address}:${m.peer.port} → switch` : `switch → ${m.peer.address}:${m.peer.port}`;
      out.push(
        `${t}  ${m.peer.transport.toUpperCase()} ${arrow}  ${m.firstLine}`,
        ...m.text
          .trimEnd()
          .split(/\r?\n/)
          .map((l) => `    ${l}`),
        '',
      );
    }
  }
  if (story.dropped) out.push(`(${story.dropped} more SIP messages were not kept: the per-call bound was reached)`);
  return out.join('\n') + '\n';
}
