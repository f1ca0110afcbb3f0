/**
 * A call's story as a ladder: one lane per party (caller, switch, each leg placed), each SIP
 * message an arrow between its lanes, the legs' changes and the dialplan's log lines on the same
 * timeline between them. Any message opens in full below its arrow. Lanes are grid columns (two
 * half-columns each, so an arrow runs from lane centre to lane centre).
 */
import { Fragment, useState, type CSSProperties, type ReactNode } from 'react';
import type { CallStoryView, StoryEntry } from '../../../contract/callTrace.ts';
import { useFormat } from '../session.tsx';
import { arrowLabel, lanesOf, peerLane, SWITCH_LANE } from './lanes.ts';

/** Grid line at the centre of lane `i` (line 1 starts the time column). */
const centre = (i: number) => 3 + 2 * i;

export function Ladder({
  story,
  legDetail,
}: {
  story: CallStoryView;
  /** More about a leg, on its rows (per-leg call quality goes here). */ legDetail?: (channelId: string) => ReactNode;
}) {
  const fmt = useFormat();
  const [open, setOpen] = useState<number>();
  const lanes = lanesOf(story.entries);
  const grid: CSSProperties = { gridTemplateColumns: `5.5rem repeat(${lanes.length * 2}, minmax(2.5rem, 1fr))` };
  const lifelines = lanes.map((l, i) => <span key={l} className="lifeline" style={{ gridColumn: `${centre(i)} / span 1` }} aria-hidden="true" />);
  if (story.entries.length === 0) return <p className="muted">Nothing recorded for this call.</p>;
  return (
    <div className="ladder" data-testid="ladder">
      <div className="ladder-row ladder-head" style={grid}>
        <span />
        {lanes.map((l, i) => (
          <span key={l} className="lane-name mono" style={{ gridColumn: `${centre(i) - 1} / ${centre(i) + 1}` }}>
            {l === SWITCH_LANE ? `switch ${story.local.address}:${story.local.port}` : l}
          </span>
        ))}
      </div>
      <ol className="ladder-body">
        {story.entries.map((e, n) => (
          <Fragment key={n}>
            <li className={`ladder-row ${e.kind}`} style={grid} data-kind={e.kind}>
              <span className="muted small mono">{fmt.time(e.at)}</span>
              {lifelines}
              <Entry entry={e} lanes={lanes} open={open === n} onToggle={() => setOpen(open === n ? undefined : n)} legDetail={legDetail} />
            </li>
            {open === n && e.kind === 'sip' && (
              <li className="ladder-message">
                <pre className="mono small" data-testid="sip-message">
                  {e.message.text}
                </pre>
              </li>
            )}
          </Fragment>
        ))}
      </ol>
      {story.dropped > 0 && <p className="muted">{story.dropped} more SIP messages were not kept: a call keeps at most a few hundred.</p>}
    </div>
  );
}

function Entry({
  entry: e,
  lanes,
  open,
  onToggle,
  legDetail,
}: {
  entry: StoryEntry;
  lanes: string[];
  open: boolean;
  onToggle(): void;
  legDetail?: (channelId: string) => ReactNode;
}) {
  if (e.kind === 'log') {
    return (
      <span className={`ladder-note level-${e.level}`} style={{ gridColumn: `2 / -1` }}>
        dialplan: <span className="mono">{e.message}</span>
      </span>
    );
  }
  if (e.kind === 'leg') {
    return (
      <span className="ladder-note leg" style={{ gridColumn: `2 / -1` }}>
        leg {e.leg} {e.what}
        {legDetail?.(e.channelId)}
      </span>
    );
  }
  const m = e.message;
  const peer = lanes.indexOf(peerLane(m));
  const sw = lanes.indexOf(SWITCH_LANE);
  const [from, to] = m.direction === 'in' ? [peer, sw] : [sw, peer];
  const rightward = to > from;
  return (
    <button
      type="button"
      className={`arrow ${rightward ? 'right' : 'left'}`}
      style={{ gridColumn: `${centre(Math.min(from, to))} / ${centre(Math.max(from, to))}` }}
      aria-expanded={open}
      onClick={onToggle}
      title={m.firstLine}
    >
      <span className="arrow-label mono">{arrowLabel(m)}</span>
      <span className="visually-hidden">{m.direction === 'in' ? ` from ${peerLane(m)}` : ` to ${peerLane(m)}`}</span>
    </button>
  );
}
