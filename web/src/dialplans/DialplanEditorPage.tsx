/**
 * Writing a dialplan: the editor, saving (the server compiles it; a syntax error comes back with
 * its line and is marked there), test runs, and versions. The source is checked the way saving
 * checks it as the user types, and what the server would refuse is not offered for saving. A name
 * that has no dialplan yet opens a new one, created by its first save.
 */
import type { EditorView } from '@codemirror/view';
import { useCallback, useEffect, useRef, useState } from 'react';
import { api, ApiError } from '../api/client.ts';
import type { CompileResult, Dialplan } from '../api/types.ts';
import { ErrorNote, Loading, Notice } from '../components/Feedback.tsx';
import { Page, Section } from '../components/Page.tsx';
import { Link, navigate } from '../router.tsx';
import { CodeEditor, replaceDocument } from './CodeEditor.tsx';
import { QuarantineNote } from './QuarantineNote.tsx';
import { isError, revealLine, showErrors, warningsOf, type SourceError } from './editorSetup.ts';
import { TestRunPanel } from './TestRunPanel.tsx';
import { VersionsPanel } from './VersionsPanel.tsx';
import { ExampleGallery } from './ExampleGallery.tsx';
import { STARTER_DIALPLAN } from '../../../contract/starterDialplan.ts';

type Loaded = { status: 'loading' } | { status: 'new' } | { status: 'saved'; dialplan: Dialplan } | { status: 'error'; error: unknown };

export default function DialplanEditorPage({ name }: { name: string }) {
  const [loaded, setLoaded] = useState<Loaded>({ status: 'loading' });
  const [dirty, setDirty] = useState(false);
  const [errors, setErrors] = useState<SourceError[]>([]);
  const [notice, setNotice] = useState<string>();
  const [saveError, setSaveError] = useState<unknown>();
  const [saving, setSaving] = useState(false);
  /** The last source the server checked, and what it found. */
  const [checked, setChecked] = useState<{ source: string; errors: SourceError[] }>();
  const view = useRef<EditorView | null>(null);
  const draft = useRef('');
  // The editor's text as of this render (the ref is what callbacks read): Save is offered again as
  // soon as the text changes, and withdrawn once the check finds the new text refused.
  const [shown, setShown] = useState('');
  const refused = checked !== undefined && checked.source === shown && checked.errors.some(isError);

  const load = useCallback(async () => {
    try {
      const d = await api.get<Dialplan>(`/dialplans/${encodeURIComponent(name)}`);
      setLoaded({ status: 'saved', dialplan: d });
      return d;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) setLoaded({ status: 'new' });
      else setLoaded({ status: 'error', error: err });
      return undefined;
    }
  }, [name]);

  useEffect(() => {
    void load().then((d) => {
      draft.current = d?.source ?? STARTER_DIALPLAN;
      if (view.current) replaceDocument(view.current, draft.current);
      setDirty(false);
    });
  }, [load]);

  useEffect(() => {
    if (!dirty) return;
    const warn = (e: BeforeUnloadEvent) => e.preventDefault();
    window.addEventListener('beforeunload', warn);
    return () => window.removeEventListener('beforeunload', warn);
  }, [dirty]);

  const mark = useCallback((list: SourceError[]) => {
    setErrors(list);
    if (view.current) showErrors(view.current, list);
  }, []);

  /**
   * The server's compile check, which the editor's linter asks for while the user types; a source
   * that compiles is then read for warnings here (a syntax error would only make them noise).
   */
  const check = useCallback(async (source: string): Promise<SourceError[]> => {
    try {
      const r = await api.post<CompileResult>('/dialplans/compile', { source });
      const found: SourceError[] = r.ok ? warningsOf(source) : [{ line: r.line, column: r.column, message: r.message, origin: 'check' }];
      setChecked({ source, errors: found });
      setErrors(found);
      return found;
    } catch {
      // Only a convenience: saving checks again and says why it refused.
      return [];
    }
  }, []);

  const save = useCallback(async () => {
    setSaving(true);
    setSaveError(undefined);
    setNotice(undefined);
    try {
      const saved = draft.current;
      const r = await api.put<{ version: number }>(`/dialplans/${encodeURIComponent(name)}`, { source: saved });
      // Saved, so it compiles: what is left to show are its warnings.
      mark(warningsOf(saved));
      setDirty(false);
      setNotice(`Saved as version ${r.version}. New calls use it now.`);
      await load();
    } catch (err) {
      if (err instanceof ApiError && typeof err.body.line === 'number') {
        mark([{ line: err.body.line, column: Number(err.body.column ?? 1), message: String(err.body.compileError ?? err.message), origin: 'save' }]);
        setSaveError(new Error('Not saved: the dialplan does not compile. The error is marked in the editor.'));
      } else setSaveError(err);
    } finally {
      setSaving(false);
    }
  }, [name, load, mark]);

  const remove = async () => {
    if (!window.confirm(`Delete the dialplan ${name} and all its versions?`)) return;
    try {
      await api.delete(`/dialplans/${encodeURIComponent(name)}`);
      navigate('/dialplans');
    } catch (err) {
      setSaveError(err);
    }
  };

  const onRestored = async (version: number, from: number) => {
    const d = await load();
    if (d && view.current) {
      draft.current = d.source;
      replaceDocument(view.current, d.source);
      setDirty(false);
      mark(warningsOf(d.source));
    }
    setNotice(`Version ${from} restored as version ${version}.`);
  };

  if (loaded.status === 'error') {
    return (
      <Page title={name}>
        <ErrorNote error={loaded.error} />
      </Page>
    );
  }
  const dialplan = loaded.status === 'saved' ? loaded.dialplan : undefined;
  return (
    <Page
      title={name}
      subtitle={
        <>
          <Link to="/dialplans">Dialplans</Link> · {loaded.status === 'new' ? 'new, not saved yet' : dialplan ? `version ${dialplan.version}` : ''}
          {dirty && <span className="tag warn">unsaved changes</span>}
        </>
      }
      actions={
        <>
          <button
            type="button"
            className="btn primary"
            onClick={() => void save()}
            disabled={saving || loaded.status === 'loading' || refused}
            title={refused ? 'The switch would refuse this source: fix the error marked in the editor first' : undefined}
          >
            {saving ? 'Saving…' : 'Save'}
          </button>
          {dialplan && (
            <button type="button" className="btn danger" onClick={() => void remove()}>
              Delete
            </button>
          )}
        </>
      }
    >
      <QuarantineNote quarantine={dialplan?.quarantine} />
      <div className="editor-layout">
        <div className="editor-main">
          <div className="card editor-card">
            {loaded.status === 'loading' && <Loading what="the dialplan" />}
            <CodeEditor
              initial=""
              viewRef={view}
              callbacks={{
                onChange: (s) => {
                  draft.current = s;
                  setShown(s);
                  setDirty(true);
                },
                onSave: () => void save(),
                check,
              }}
            />
            <p className="hint" id="editor-help">
              Ctrl-Space completes the dialplan API (<code>dial</code>, <code>call.</code>, <code>store.</code>, …). Ctrl-S saves. Tab indents; press Esc, then Tab, to leave the
              editor.
            </p>
            <p className="hint">
              Variables at the top level of a dialplan may keep their values from one call to the next of the same version, are never shared with anyone else, and can be reset at
              any moment: keep what must last with <code>store</code>. The top level cannot use <code>call</code>, <code>dial</code> or <code>respond</code>.
            </p>
          </div>
          <div aria-live="polite">
            {notice && <Notice tone="success">{notice}</Notice>}
            <ErrorNote error={saveError} />
            {errors.some(isError) && (
              <ul className="source-errors" data-testid="source-errors" aria-label="Errors">
                {errors.filter(isError).map((e, i) => (
                  <SourceProblem key={i} problem={e} view={view.current} />
                ))}
              </ul>
            )}
            {errors.some((e) => !isError(e)) && (
              <ul className="source-warnings" data-testid="source-warnings" aria-label="Warnings">
                {errors
                  .filter((e) => !isError(e))
                  .map((e, i) => (
                    <SourceProblem key={i} problem={e} view={view.current} />
                  ))}
              </ul>
            )}
          </div>
        </div>
        <div className="editor-side">
          <Section title="Test run" id="test-run">
            <TestRunPanel name={name} source={() => draft.current} onErrors={mark} />
          </Section>
          <Section title="Examples" id="examples">
            <ExampleGallery
              dirty={dirty}
              onUse={(source) => {
                if (view.current) replaceDocument(view.current, source);
              }}
            />
          </Section>
          {dialplan && (
            <Section title="Versions" id="versions">
              <VersionsPanel dialplan={dialplan} dirty={dirty} onRestored={(v, from) => void onRestored(v, from)} />
            </Section>
          )}
        </div>
      </div>
    </Page>
  );
}

/** One error or warning under the editor: its kind in words, where (a button that goes there), and what. */
function SourceProblem({ problem: e, view }: { problem: SourceError; view: EditorView | null }) {
  return (
    <li data-line={e.line}>
      <strong>{isError(e) ? 'Error' : 'Warning'}</strong>{' '}
      <button type="button" className="link" onClick={() => view && revealLine(view, e.line, e.column)}>
        Line {e.line}, column {e.column}
      </button>
      : {e.message} <span className="muted">({e.origin})</span>
    </li>
  );
}
