/** Calls as they happen, from the event stream: they appear, ring, connect and end here. */
import type { CallEvent } from '../api/types.ts';
import { Badge } from '../components/Badge.tsx';
import { Empty } from '../components/Feedback.tsx';
import { Page, Section } from '../components/Page.tsx';
import { LiveCallCard } from '../live/LiveCallCard.tsx';
import { useLive, type Connection } from '../live/LiveProvider.tsx';
import { useNow } from '../live/useNow.ts';
import { useFormat } from '../session.tsx';

const CONNECTION: Record<Connection, [tone: 'good' | 'busy' | 'bad', label: string]> = {
  connecting: ['busy', 'Connecting'],
  live: ['good', 'Live'],
  retrying: ['bad', 'Disconnected, retrying'],
};

function eventSummary(e: CallEvent): string {
  switch (e.type) {
    case 'channel.created':
    case 'channel.state':
      return `${e.channel.id} ${e.channel.state}`;
    case 'channel.hungup':
      return `${e.channel.id} ${e.cause} by ${e.by}${e.sipStatus ? ` (${e.sipStatus})` : ''}`;
    case 'bridge.created':
    case 'bridge.destroyed':
      return e.bridge.id;
    case 'bridge.entered':
    case 'bridge.left':
      return `${e.channelId} ${e.type === 'bridge.entered' ? '→' : '←'} ${e.bridge.id}`;
    case 'dialplan.started':
      return `${e.dialplan.name} v${e.dialplan.version}`;
    case 'dialplan.log':
      return e.message;
    case 'dialplan.ended':
      return `${e.outcome}${e.error ? `: ${e.error}` : ''}`;
    case 'transfer.blind':
      return `${e.transferee} → ${e.target}: ${e.result}`;
    case 'transfer.attended':
      return `${e.transferee} → ${e.party} (attended): ${e.result}`;
    case 'channel.media':
      return `${e.channelId} ${e.media.silentSince !== null ? 'no audio' : 'audio'}`;
    case 'call.ended':
      return e.callId;
  }
}

export function LivePage() {
  const fmt = useFormat();
  const { state, connection } = useLive();
  const calls = Object.values(state.calls).sort((a, b) => a.startedAt - b.startedAt);
  const now = useNow(1000, calls.length > 0);
  const [tone, label] = CONNECTION[connection];

  return (
    <Page
      title="Live calls"
      subtitle="Every leg keeps its channel id from the first ring to the hang-up, here, in the events and in the call record."
      actions={
        <span data-testid="live-connection" data-connection={connection}>
          <Badge tone={tone}>{label}</Badge>
        </span>
      }
    >
      <Section title={`In progress (${calls.length})`}>
        <div aria-live="polite" className="live-calls">
          {calls.length === 0 ? <Empty>No calls right now. They appear here the moment they start.</Empty> : calls.map((c) => <LiveCallCard key={c.callId} call={c} now={now} />)}
        </div>
      </Section>
      {state.ended.length > 0 && (
        <Section title="Just ended">
          <div className="live-calls">
            {state.ended.map((c) => (
              <LiveCallCard key={c.callId} call={c} now={now} />
            ))}
          </div>
        </Section>
      )}
      <Section title="Events">
        {state.events.length === 0 ? (
          <Empty>No events since this page opened.</Empty>
        ) : (
          <div className="table-wrap event-feed" role="region" aria-label="Events" tabIndex={0}>
            <table>
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Seq</th>
                  <th scope="col">Event</th>
                  <th scope="col">Detail</th>
                </tr>
              </thead>
              <tbody>
                {[...state.events].reverse().map((e) => (
                  <tr key={`${e.nodeId}-${e.seq}`}>
                    <td>{fmt.time(e.at)}</td>
                    <td>{e.seq}</td>
                    <td className="mono">{e.type}</td>
                    <td className="mono small">{eventSummary(e)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>
    </Page>
  );
}
