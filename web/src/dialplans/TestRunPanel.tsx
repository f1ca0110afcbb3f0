/**
 * A test run: the dialplan (as it is in the editor, saved or not) runs against a described call,
 * with an outcome chosen for each target it dials and the digits the caller presses for its
 * `collect()`s; the panel shows what it did (dials, answer, play, collect, record, hangup) and
 * logged. No call is placed (POST /dialplans/:name/simulate).
 */
import { useState, type FormEvent } from 'react';
import { api, ApiError } from '../api/client.ts';
import type { DialOutcome, SimulatedAction, SimulationResult } from '../api/types.ts';
import { Badge } from '../components/Badge.tsx';
import { ErrorNote } from '../components/Feedback.tsx';
import { fieldErrors, SelectField, TextField } from '../components/Form.tsx';
import type { SourceError } from './editorSetup.ts';

const OUTCOMES: DialOutcome[] = ['answered', 'busy', 'no-answer', 'unavailable', 'rejected:403', 'rejected:404', 'rejected:480', 'rejected:503'];

interface OutcomeRow {
  target: string;
  outcome: DialOutcome;
}

function describeAction(a: SimulatedAction): string {
  switch (a.type) {
    case 'dial': {
      const spec = a.spec.groups.map((g) => g.map((l) => l.target).join(' & ')).join(' | ');
      const r = a.result;
      return `dial ${spec} → ${r.answered ? `answered${r.target ? ` by ${r.target}` : ''}` : r.result}${r.sipStatus ? ` (${r.sipStatus})` : ''}`;
    }
    case 'respond':
      return `respond ${a.status}${a.reason ? ` ${a.reason}` : ''}`;
    case 'store.set':
      return `store.set ${a.key}`;
    case 'store.delete':
      return `store.delete ${a.key}`;
    case 'answer':
      return 'answer';
    case 'play':
      return `play ${a.sound}${a.repeat > 1 ? ` × ${a.repeat}` : ''}`;
    case 'collect':
      return `collect${a.prompt ? ` (prompt ${a.prompt})` : ''} → ${a.digits ? `“${a.digits}”` : 'no digits (timeout)'}`;
    case 'record':
      return 'record (nothing is stored in a test run)';
    case 'hangup':
      return 'hangup';
  }
}

const OUTCOME_TONE: Record<string, 'good' | 'bad' | 'neutral'> = { completed: 'good', responded: 'good' };

export function TestRunPanel({ name, source, onErrors }: { name: string; source: () => string; onErrors: (errors: SourceError[]) => void }) {
  const [direction, setDirection] = useState<'in' | 'out' | 'local'>('local');
  const [from, setFrom] = useState('+15551234567');
  const [to, setTo] = useState('100');
  const [account, setAccount] = useState('');
  const [digits, setDigits] = useState('');
  const [rows, setRows] = useState<OutcomeRow[]>([]);
  const [result, setResult] = useState<SimulationResult>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  const run = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const outcomes = Object.fromEntries(rows.filter((r) => r.target.trim()).map((r) => [r.target.trim(), r.outcome]));
      const r = await api.post<SimulationResult>(`/dialplans/${encodeURIComponent(name)}/simulate`, {
        source: source(),
        call: { direction, from: { user: from }, to: { user: to }, ...(account.trim() ? { account: account.trim() } : {}) },
        outcomes,
        ...(digits ? { digits } : {}),
      });
      setResult(r);
      onErrors(r.error?.line ? [{ line: r.error.line, column: r.error.column ?? 1, message: r.error.message, origin: 'test run' }] : []);
      // Targets the script dialled that have no outcome yet get a row, to choose one for the next run.
      const dialled = r.actions.flatMap((a) => (a.type === 'dial' ? a.spec.groups.flat().map((l) => l.target) : []));
      const known = new Set(rows.map((x) => x.target));
      const added = [...new Set(dialled)].filter((t) => !known.has(t)).map((target): OutcomeRow => ({ target, outcome: 'no-answer' }));
      if (added.length) setRows((x) => [...x, ...added]);
    } catch (err) {
      setResult(undefined);
      setError(err);
      if (err instanceof ApiError && typeof err.body.line === 'number') {
        onErrors([{ line: err.body.line, column: Number(err.body.column ?? 1), message: String(err.body.compileError ?? err.message), origin: 'test run' }]);
      }
    } finally {
      setBusy(false);
    }
  };

  const setRow = (i: number, change: Partial<OutcomeRow>) => setRows((x) => x.map((r, j) => (j === i ? { ...r, ...change } : r)));
  const errs = fieldErrors(error, ['call.from.user', 'call.to.user', 'call.account', 'digits']);

  return (
    <form onSubmit={run} className="test-run" aria-label="Test run">
      <div className="form-grid cols">
        <SelectField label="Call direction" value={direction} onChange={(e) => setDirection(e.target.value as typeof direction)}>
          <option value="local">local: phone to phone</option>
          <option value="out">out: a phone calls outside</option>
          <option value="in">in: from a provider</option>
        </SelectField>
        <TextField label="Calling account (optional)" value={account} onChange={(e) => setAccount(e.target.value)} error={errs.forField('call.account')} spellCheck={false} />
        <TextField label="From" name="from" value={from} onChange={(e) => setFrom(e.target.value)} error={errs.forField('call.from.user')} spellCheck={false} />
        <TextField label="To (dialled)" name="to" value={to} onChange={(e) => setTo(e.target.value)} error={errs.forField('call.to.user')} spellCheck={false} />
        <TextField
          label="Digits the caller presses"
          name="digits"
          value={digits}
          onChange={(e) => setDigits(e.target.value.replace(/\s/g, ''))}
          error={errs.forField('digits')}
          hint="In order, for collect(): 0–9, * and #. Each collect() takes as many as it asks for; none left is a timeout."
          spellCheck={false}
          autoComplete="off"
          inputMode="tel"
        />
      </div>
      <fieldset className="outcomes">
        <legend>What each dialled target does</legend>
        {rows.length === 0 && <p className="hint">Targets not listed do not answer. Run once to list the targets the dialplan dials.</p>}
        {rows.map((r, i) => (
          <div className="outcome-row" key={i}>
            <input aria-label={`Target ${i + 1}`} value={r.target} onChange={(e) => setRow(i, { target: e.target.value })} placeholder="alice or 0123@trunk" spellCheck={false} />
            <select aria-label={`Outcome for ${r.target || `target ${i + 1}`}`} value={r.outcome} onChange={(e) => setRow(i, { outcome: e.target.value as DialOutcome })}>
              {OUTCOMES.map((o) => (
                <option key={o}>{o}</option>
              ))}
            </select>
            <button type="button" className="btn small ghost" onClick={() => setRows((x) => x.filter((_, j) => j !== i))} aria-label={`Remove ${r.target || `target ${i + 1}`}`}>
              Remove
            </button>
          </div>
        ))}
        <button type="button" className="btn small" onClick={() => setRows((x) => [...x, { target: '', outcome: 'answered' }])}>
          Add target
        </button>
      </fieldset>
      <div className="form-actions">
        <button type="submit" className="btn primary" disabled={busy}>
          {busy ? 'Running…' : 'Run test'}
        </button>
      </div>
      <ErrorNote error={errs.general} />
      {result && (
        <div className="test-result" aria-live="polite" data-testid="test-result">
          <p>
            Outcome: <Badge tone={OUTCOME_TONE[result.outcome] ?? 'bad'}>{result.outcome}</Badge>
          </p>
          {result.error && (
            <div className="note error" role="alert">
              {result.error.line ? `Line ${result.error.line}${result.error.column ? `, column ${result.error.column}` : ''}: ` : ''}
              {result.error.message}
            </div>
          )}
          <h3>Actions</h3>
          {result.actions.length === 0 ? (
            <p className="muted">None.</p>
          ) : (
            <ol className="actions" data-testid="test-actions">
              {result.actions.map((a, i) => (
                <li key={i}>
                  <span className="mono">{describeAction(a)}</span> <span className="muted">+{a.at} ms</span>
                </li>
              ))}
            </ol>
          )}
          <h3>Log</h3>
          {result.logs.length === 0 ? (
            <p className="muted">Nothing logged.</p>
          ) : (
            <ol className="log" data-testid="test-log">
              {result.logs.map((l, i) => (
                <li key={i} className={`level-${l.level}`}>
                  <span className="muted">+{l.at} ms</span> <span className="mono">{l.message}</span>
                </li>
              ))}
            </ol>
          )}
        </div>
      )}
    </form>
  );
}
