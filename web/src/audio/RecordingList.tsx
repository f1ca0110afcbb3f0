/**
 * Recordings in a table: when, which call, how long; each opens a player with its waveform, a
 * download link and a delete button. Used by the recordings page and a call record's page.
 */
import { Fragment, useRef, useState } from 'react';
import { api } from '../api/client.ts';
import type { Recording } from '../api/types.ts';
import { ErrorNote } from '../components/Feedback.tsx';
import { TableWrap } from '../components/TableWrap.tsx';
import { duration } from '../format.ts';
import { Link } from '../router.tsx';
import { useFormat } from '../session.tsx';
import { Waveform } from './Waveform.tsx';

/**
 * The waveform needs the whole file in the browser, decoded (4 bytes a sample): past this (about
 * 35 minutes at 8 kHz) the player plays on its own.
 */
const WAVEFORM_MAX_BYTES = 32 * 1024 * 1024;

function Player({ r, label }: { r: Recording; label: string }) {
  const player = useRef<HTMLAudioElement>(null);
  return (
    <div className="recording-player" data-testid="recording-player">
      <audio ref={player} src={r.audioUrl} controls preload="metadata" aria-label={`Play ${label}`} />
      {r.bytes <= WAVEFORM_MAX_BYTES ? (
        <Waveform url={r.audioUrl} player={player} label={label} />
      ) : (
        <p className="muted small">Too long to draw its waveform here; download it to see it in an audio editor.</p>
      )}
    </div>
  );
}

export function RecordingList({ items, onDeleted, showCall = true }: { items: Recording[]; onDeleted: () => Promise<void> | void; showCall?: boolean }) {
  const fmt = useFormat();
  const [open, setOpen] = useState<string>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState<string>();

  const remove = async (r: Recording) => {
    if (!window.confirm(`Delete the recording of ${fmt.dateTime(r.createdAt)} (${duration(r.durationMs)})? It cannot be undone.`)) return;
    setError(undefined);
    setBusy(r.id);
    try {
      await api.delete(`/recordings/${r.id}`);
      if (open === r.id) setOpen(undefined);
      await onDeleted();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(undefined);
    }
  };

  const columns = showCall ? 4 : 3;
  return (
    <>
      <ErrorNote error={error} />
      <TableWrap label="Recordings">
        <table data-testid="recordings">
          <thead>
            <tr>
              <th scope="col">When</th>
              {showCall && <th scope="col">Call</th>}
              <th scope="col">Duration</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((r) => {
              const label = `the recording of ${fmt.dateTime(r.createdAt)}`;
              return (
                <Fragment key={r.id}>
                  <tr data-testid="recording" data-id={r.id}>
                    <td>{fmt.dateTime(r.createdAt)}</td>
                    {showCall && (
                      <td>
                        {r.cdrId ? (
                          <Link to={`/calls/${r.cdrId}`} className="mono small">
                            {r.callId}
                          </Link>
                        ) : (
                          <span className="mono small" title="Its call record is written when the call ends">
                            {r.callId}
                          </span>
                        )}
                      </td>
                    )}
                    <td>{duration(r.durationMs)}</td>
                    <td>
                      <div className="row-actions">
                        <button
                          type="button"
                          className="btn small"
                          aria-expanded={open === r.id}
                          aria-label={`${open === r.id ? 'Close player of' : 'Listen to'} ${label}`}
                          onClick={() => setOpen(open === r.id ? undefined : r.id)}
                        >
                          {open === r.id ? 'Close player' : 'Listen'}
                        </button>
                        <a className="btn small ghost" href={`${r.audioUrl}?download=1`} download={`recording-${r.id}.wav`} aria-label={`Download ${label}`}>
                          Download
                        </a>
                        <button type="button" className="btn small danger" disabled={busy === r.id} aria-label={`Delete ${label}`} onClick={() => void remove(r)}>
                          Delete
                        </button>
                      </div>
                    </td>
                  </tr>
                  {open === r.id && (
                    <tr className="player-row">
                      <td colSpan={columns}>
                        <Player r={r} label={label} />
                      </td>
                    </tr>
                  )}
                </Fragment>
              );
            })}
          </tbody>
        </table>
      </TableWrap>
    </>
  );
}
