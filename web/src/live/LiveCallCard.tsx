/**
 * One call as it happens: each channel by its stable id, its state, the dialplan's log so far, its
 * SIP messages so far as a ladder (on request), and a button that ends it.
 */
import { useState } from 'react';
import type { CallStoryView } from '../../../contract/callTrace.ts';
import { api } from '../api/client.ts';
import { Ladder } from '../calls/Ladder.tsx';
import { ErrorNote } from '../components/Feedback.tsx';
import { useApi } from '../useApi.ts';
import { Badge } from '../components/Badge.tsx';
import { TransportBadge } from '../components/TransportBadge.tsx';
import { duration } from '../format.ts';
import { CHANNEL_LABEL, CHANNEL_TONE, hangupWords } from '../calls/words.ts';
import { useFormat } from '../session.tsx';
import { channelsOf, type LiveCallView } from './liveState.ts';
import { LegQuality } from '../components/LegQuality.tsx';
import { TableWrap } from '../components/TableWrap.tsx';

export function LiveCallCard({ call, now }: { call: LiveCallView; now: number }) {
  const fmt = useFormat();
  const channels = channelsOf(call);
  const first = channels[0];
  const bridged = Object.values(call.bridges).some((b) => b.channelIds.length > 1);
  const ended = call.endedAt !== undefined;
  return (
    <article className={`card live-call${ended ? ' ended' : ''}`} data-testid="live-call" data-call-id={call.callId} data-ended={ended ? 'yes' : 'no'}>
      <header className="live-call-header">
        <h3>
          <span className="mono">{first ? `${first.from.user} → ${first.to.user}` : call.callId}</span>
        </h3>
        <span className="muted">
          {ended ? `ended ${fmt.time(call.endedAt)} after ${duration(call.endedAt! - call.startedAt)}` : `${duration(now - call.startedAt)} · started ${fmt.time(call.startedAt)}`}
          {bridged && !ended && ' · talking'}
        </span>
      </header>
      <TableWrap label="Call legs">
        <table className="channels">
          <thead>
            <tr>
              <th scope="col">Channel id</th>
              <th scope="col">Leg</th>
              <th scope="col">State</th>
              <th scope="col">Peer</th>
              <th scope="col">Since</th>
              <th scope="col">Audio</th>
            </tr>
          </thead>
          <tbody>
            {channels.map((ch) => (
              <tr key={ch.id} data-channel-id={ch.id} data-state={ch.state}>
                <td className="mono small">{ch.id}</td>
                <td>
                  {ch.direction === 'inbound' ? 'caller' : 'callee'}
                  <span className="mono muted"> {ch.direction === 'inbound' ? (ch.account ?? ch.from.user) : (ch.target ?? ch.to.user)}</span>
                </td>
                <td>
                  <Badge tone={CHANNEL_TONE[ch.state]}>{CHANNEL_LABEL[ch.state]}</Badge>
                  {ch.state === 'hungup' && <span className="muted"> {hangupWords(ch.hangupCause, ch.hangupBy, ch.sipStatus)}</span>}
                </td>
                <td className="mono small">
                  {ch.peer.address}:{ch.peer.port} <TransportBadge transport={ch.peer.transport} />
                </td>
                <td>{fmt.time(ch.endedAt ?? ch.answeredAt ?? ch.ringingAt ?? ch.createdAt)}</td>
                <td>
                  <LegQuality media={ch.media} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
      {call.dialplan && (
        <p className="muted">
          Dialplan {call.dialplan.name} v{call.dialplan.version}
          {call.dialplan.outcome && `: ${call.dialplan.outcome}`}
          {call.dialplan.error && ` (${call.dialplan.error})`}
        </p>
      )}
      {!ended && <LiveActions callId={call.callId} />}
      {call.logs.length > 0 && (
        <ol className="log compact">
          {call.logs.map((l, i) => (
            <li key={i} className={`level-${l.level}`}>
              <span className="muted">{fmt.time(l.at)}</span> <span className="mono">{l.message}</span>
            </li>
          ))}
        </ol>
      )}
    </article>
  );
}

/** How often an open ladder of a call in progress is brought up to date. */
const LIVE_STORY_POLL_MS = 2000;

function LiveStory({ callId }: { callId: string }) {
  const story = useApi<CallStoryView>(`/calls/${encodeURIComponent(callId)}/story`, { pollMs: LIVE_STORY_POLL_MS });
  return (
    <>
      <ErrorNote error={story.error} />
      {story.data && <Ladder story={story.data} />}
    </>
  );
}

function LiveActions({ callId }: { callId: string }) {
  const [showing, setShowing] = useState(false);
  const [error, setError] = useState<unknown>();
  const [ending, setEnding] = useState(false);
  const end = async () => {
    if (!window.confirm('End this call for everyone on it?')) return;
    setEnding(true);
    setError(undefined);
    try {
      await api.post(`/calls/${encodeURIComponent(callId)}/hangup`, {});
    } catch (err) {
      setError(err);
      setEnding(false);
    }
  };
  return (
    <div className="stack">
      <ErrorNote error={error} />
      <div className="form-actions">
        <button type="button" className="btn small" aria-expanded={showing} onClick={() => setShowing(!showing)}>
          {showing ? 'Hide SIP messages' : 'Show SIP messages'}
        </button>
        <button type="button" className="btn small danger" onClick={() => void end()} disabled={ending}>
          {ending ? 'Ending…' : 'End call'}
        </button>
      </div>
      {showing && <LiveStory callId={callId} />}
    </div>
  );
}
