/**
 * Call records: newest first, filtered by date range (typed in the tenant's time zone), number and
 * status, paged by the API's keyset cursor, exported as CSV with the same filters. The filters
 * live in the URL, so a filtered list can be bookmarked and the back button works. The first page
 * refreshes when a live call ends.
 */
import { useState, type FormEvent } from 'react';
import { API_BASE, query } from '../api/client.ts';
import { CDR_STATUSES, type CdrPage } from '../api/types.ts';
import { Badge } from '../components/Badge.tsx';
import { Empty, ErrorNote, Loading } from '../components/Feedback.tsx';
import { fieldErrors, SelectField, TextField } from '../components/Form.tsx';
import { Page } from '../components/Page.tsx';
import { duration, instantToZoned, zonedToInstant } from '../format.ts';
import { hangupWords, STATUS_TONE } from '../calls/words.ts';
import { useAfterCallEnds } from '../live/useAfterCallEnds.ts';
import { Link, navigate, useLocation } from '../router.tsx';
import { useFormat } from '../session.tsx';
import { useApi } from '../useApi.ts';
import { TableWrap } from '../components/TableWrap.tsx';

const PAGE_SIZE = 50;

interface Filters {
  from: string;
  to: string;
  number: string;
  status: string;
}

function filtersFrom(search: URLSearchParams): Filters {
  return { from: search.get('from') ?? '', to: search.get('to') ?? '', number: search.get('number') ?? '', status: search.get('status') ?? '' };
}

export function CallsPage() {
  const fmt = useFormat();
  const { search } = useLocation();
  const applied = filtersFrom(search);
  const cursor = search.get('cursor') ?? undefined;
  // Cursors of the pages before this one, for "Newer": the API's cursor pages towards older records only.
  const [trail, setTrail] = useState<string[]>([]);
  const [form, setForm] = useState<Filters>(() => ({
    ...applied,
    from: applied.from ? instantToZoned(applied.from, fmt.timeZone) : '',
    to: applied.to ? instantToZoned(applied.to, fmt.timeZone) : '',
  }));

  const filterQuery = query({ from: applied.from, to: applied.to, number: applied.number, status: applied.status });
  const listPath = `/cdrs${query({ from: applied.from, to: applied.to, number: applied.number, status: applied.status, limit: PAGE_SIZE, cursor })}`;
  const page = useApi<CdrPage>(listPath);

  // A call just ended: on the first page, show its record.
  useAfterCallEnds(() => {
    if (!cursor) void page.reload();
  });

  const apply = (e: FormEvent) => {
    e.preventDefault();
    setTrail([]);
    navigate(
      `/calls${query({
        from: form.from ? zonedToInstant(form.from, fmt.timeZone).toISOString() : '',
        to: form.to ? zonedToInstant(form.to, fmt.timeZone).toISOString() : '',
        number: form.number.trim(),
        status: form.status.trim(),
      })}`,
    );
  };
  const clear = () => {
    setForm({ from: '', to: '', number: '', status: '' });
    setTrail([]);
    navigate('/calls');
  };
  const older = () => {
    if (!page.data?.nextCursor) return;
    setTrail((t) => [...t, cursor ?? '']);
    navigate(`/calls${query({ ...applied, cursor: page.data.nextCursor })}`);
  };
  const newer = () => {
    const prev = trail.at(-1);
    setTrail((t) => t.slice(0, -1));
    navigate(`/calls${query({ ...applied, cursor: prev })}`);
  };

  const errs = fieldErrors(page.error, ['from', 'to', 'number', 'status']);
  const set = (k: keyof Filters) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [k]: e.target.value }));
  const customStatus = form.status !== '' && !(CDR_STATUSES as string[]).includes(form.status);

  return (
    <Page
      title="Call records"
      subtitle={`Times in ${fmt.timeZone}.`}
      actions={
        <a className="btn" href={`${API_BASE}/cdrs.csv${filterQuery}`} download="cdrs.csv">
          Export CSV
        </a>
      }
    >
      <form className="filters card" onSubmit={apply} aria-label="Filter call records">
        <TextField label="From" type="datetime-local" value={form.from} onChange={set('from')} error={errs.forField('from')} />
        <TextField label="To" type="datetime-local" value={form.to} onChange={set('to')} error={errs.forField('to')} />
        <TextField label="Number" value={form.number} onChange={set('number')} error={errs.forField('number')} placeholder="caller, callee or dialled" spellCheck={false} />
        <SelectField
          label="Status"
          value={customStatus ? 'code' : form.status}
          onChange={(e) => setForm((f) => ({ ...f, status: e.target.value === 'code' ? '486' : e.target.value }))}
          error={errs.forField('status')}
        >
          <option value="">any</option>
          {CDR_STATUSES.map((s) => (
            <option key={s}>{s}</option>
          ))}
          <option value="code">SIP status code…</option>
        </SelectField>
        {customStatus && <TextField label="SIP status" value={form.status} onChange={set('status')} inputMode="numeric" />}
        <div className="filter-actions">
          <button type="submit" className="btn primary">
            Apply
          </button>
          <button type="button" className="btn ghost" onClick={clear}>
            Clear
          </button>
        </div>
      </form>
      <ErrorNote error={errs.general} />
      {page.error ? null : page.loading && !page.data ? (
        <Loading what="call records" />
      ) : page.data?.items.length === 0 ? (
        <Empty>{filterQuery ? 'No call matches these filters.' : 'No calls yet. Calls appear here when they end.'}</Empty>
      ) : (
        page.data && (
          <TableWrap card label="Call records">
            <table className="cdrs" data-testid="cdr-table">
              <thead>
                <tr>
                  <th scope="col">Started</th>
                  <th scope="col">From</th>
                  <th scope="col">To</th>
                  <th scope="col">Dialled</th>
                  <th scope="col">Status</th>
                  <th scope="col">Ringing</th>
                  <th scope="col">Talk</th>
                  <th scope="col">Ended by</th>
                </tr>
              </thead>
              <tbody>
                {page.data.items.map((c) => (
                  <tr key={c.id}>
                    <td>
                      <Link to={`/calls/${c.id}`}>{fmt.dateTime(c.startedAt)}</Link>
                    </td>
                    <td className="mono">{c.caller}</td>
                    <td className="mono">{c.callee}</td>
                    <td className="mono">{c.dialled.join(', ') || '—'}</td>
                    <td>
                      <Badge tone={STATUS_TONE[c.status]}>{c.status}</Badge> {c.sipStatus && <span className="muted">{c.sipStatus}</span>}
                    </td>
                    <td>{duration(c.ringMs)}</td>
                    <td>{c.talkMs ? duration(c.talkMs) : '—'}</td>
                    <td>{hangupWords(c.hangupCause, c.hangupBy)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        )
      )}
      <nav className="pager" aria-label="Pages">
        <button type="button" className="btn" onClick={newer} disabled={!cursor}>
          ← Newer
        </button>
        <button type="button" className="btn" onClick={() => void page.reload()}>
          Refresh
        </button>
        <button type="button" className="btn" onClick={older} disabled={!page.data?.nextCursor}>
          Older →
        </button>
      </nav>
    </Page>
  );
}
