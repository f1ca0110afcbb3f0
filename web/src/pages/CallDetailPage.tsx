/**
 * One call record: its parties and times, every leg with its SIP status and who hung up, the
 * dialplan's log, the recordings its dialplan made (each played with its waveform), and its
 * story: the SIP messages of every leg as a ladder, with the legs' changes and the log on the
 * same timeline, downloadable as text and pcap.
 */
import type { ReactNode } from 'react';
import type { Cdr } from '../api/types.ts';
import { Badge } from '../components/Badge.tsx';
import { ErrorNote, Loading } from '../components/Feedback.tsx';
import { Page, Section } from '../components/Page.tsx';
import { TransportBadge } from '../components/TransportBadge.tsx';
import { duration } from '../format.ts';
import { hangupWords, STATUS_TONE, whyItEnded } from '../calls/words.ts';
import { Link } from '../router.tsx';
import { useFormat } from '../session.tsx';
import { useApi } from '../useApi.ts';
import { LegQuality } from '../components/LegQuality.tsx';
import { TableWrap } from '../components/TableWrap.tsx';
import type { CallStoryView } from '../../../contract/callTrace.ts';
import { Ladder } from '../calls/Ladder.tsx';
import { RecordingList } from '../audio/RecordingList.tsx';

export function CallDetailPage({ id }: { id: string }) {
  const fmt = useFormat();
  const cdr = useApi<Cdr>(`/cdrs/${encodeURIComponent(id)}`);
  const c = cdr.data;
  if (cdr.error) {
    return (
      <Page title="Call" subtitle={<Link to="/calls">Call records</Link>}>
        <ErrorNote error={cdr.error} />
      </Page>
    );
  }
  if (!c) return <Loading what="the call" />;

  const facts: Array<[string, ReactNode]> = [
    [
      'Status',
      <>
        <Badge tone={STATUS_TONE[c.status]}>{c.status}</Badge> {c.sipStatus !== null && <span className="mono">SIP {c.sipStatus}</span>}
      </>,
    ],
    ['Ended by', hangupWords(c.hangupCause, c.hangupBy)],
    ['Direction', c.direction],
    ['From', <span className="mono">{c.caller}</span>],
    ['To', <span className="mono">{c.callee}</span>],
    ['Dialled', <span className="mono">{c.dialled.join(', ') || '—'}</span>],
    ['Account', c.account ?? '—'],
    ['Provider', c.provider ?? '—'],
    ['Dialplan', c.dialplan ? `${c.dialplan.name}${c.dialplan.version ? ` v${c.dialplan.version}` : ''}${c.dialplan.outcome ? `: ${c.dialplan.outcome}` : ''}` : 'none'],
    ['Started', fmt.dateTime(c.startedAt)],
    ['Rang', c.ringingAt ? `${fmt.time(c.ringingAt)} (for ${duration(c.ringMs)})` : 'never'],
    ['Answered', c.answeredAt ? fmt.time(c.answeredAt) : 'no'],
    ['Ended', `${fmt.time(c.endedAt)}${c.talkMs ? ` after ${duration(c.talkMs)} of talk` : ''}`],
    ['Call id', <span className="mono">{c.callId}</span>],
    ['Node', c.nodeId],
  ];

  return (
    <Page
      title={`${c.caller} → ${c.callee}`}
      subtitle={
        <>
          <Link to="/calls">Call records</Link> · {fmt.dateTime(c.startedAt)}
        </>
      }
    >
      <p className="lead" data-testid="why-it-ended">
        {whyItEnded(c)}
      </p>
      <div className="grid two">
        <Section title="Call">
          <dl className="facts">
            {facts.map(([k, v]) => (
              <div key={k}>
                <dt>{k}</dt>
                <dd>{v}</dd>
              </div>
            ))}
          </dl>
        </Section>
        <Section title="Dialplan log">
          {c.log.length === 0 ? (
            <p className="muted">Nothing logged.</p>
          ) : (
            <ol className="log" data-testid="cdr-log">
              {c.log.map((l, i) => (
                <li key={i} className={`level-${l.level}`}>
                  <span className="muted">{fmt.time(l.at)}</span> <span className="mono">{l.message}</span>
                </li>
              ))}
            </ol>
          )}
        </Section>
      </div>
      {c.recordings.length > 0 && (
        <Section title={`Recordings (${c.recordings.length})`}>
          <RecordingList items={c.recordings} onDeleted={cdr.reload} showCall={false} />
        </Section>
      )}
      <CallStory id={c.id} />
      <Section title={`Legs (${c.legs.length})`}>
        <TableWrap label="Call legs">
          <table data-testid="cdr-legs">
            <thead>
              <tr>
                <th scope="col">Channel</th>
                <th scope="col">Direction</th>
                <th scope="col">From → to</th>
                <th scope="col">Created</th>
                <th scope="col">Ringing</th>
                <th scope="col">Answered</th>
                <th scope="col">Ended</th>
                <th scope="col">SIP status</th>
                <th scope="col">Hang-up</th>
                <th scope="col">Signalling</th>
                <th scope="col">Audio</th>
              </tr>
            </thead>
            <tbody>
              {c.legs.map((l) => (
                <tr key={l.id}>
                  <td className="mono small" title={l.id}>
                    {l.id}
                  </td>
                  <td>
                    {l.direction}
                    {l.target && <div className="muted mono">{l.target}</div>}
                  </td>
                  <td className="mono">
                    {l.from.user} → {l.to.user}
                  </td>
                  <td>{fmt.time(l.createdAt)}</td>
                  <td>{fmt.time(l.ringingAt)}</td>
                  <td>{fmt.time(l.answeredAt)}</td>
                  <td>{fmt.time(l.endedAt)}</td>
                  <td>{l.sipStatus ?? '—'}</td>
                  <td>{hangupWords(l.hangupCause, l.hangupBy)}</td>
                  <td>
                    <TransportBadge transport={l.transport} />
                  </td>
                  <td>
                    <LegQuality media={l.media} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      </Section>
    </Page>
  );
}

function CallStory({ id }: { id: string }) {
  const story = useApi<CallStoryView>(`/cdrs/${encodeURIComponent(id)}/story`);
  const base = `/api/v1/cdrs/${encodeURIComponent(id)}/story`;
  return (
    <Section
      title="What happened"
      id="story"
      actions={
        <>
          <a href={`${base}?format=text`} download>
            Download as text
          </a>{' '}
          ·{' '}
          <a href={`${base}?format=pcap`} download>
            Download pcap
          </a>
        </>
      }
    >
      <ErrorNote error={story.error} />
      {/* Per-leg call quality (packets, loss, jitter) joins each leg's rows here through legDetail. */}
      {story.data ? <Ladder story={story.data} /> : !story.error && <Loading what="the call's messages" />}
    </Section>
  );
}
