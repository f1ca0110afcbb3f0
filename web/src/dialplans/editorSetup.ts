/**
 * The dialplan editor's CodeMirror 6 set-up: JavaScript highlighting, completion of the dialplan
 * API, the server's compile check as the user types and, for a source that compiles, the warnings
 * read from it here (warnings.ts; both marked at their line through CodeMirror's lint, errors red,
 * warnings amber),
 * a gutter for the errors the server reports, and the usual editing keys. Ctrl/Cmd-S saves.
 */
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from '@codemirror/autocomplete';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { javascript, javascriptLanguage } from '@codemirror/lang-javascript';
import { bracketMatching, foldGutter, foldKeymap, indentOnInput } from '@codemirror/language';
import { linter, lintGutter, lintKeymap, setDiagnostics, type Diagnostic } from '@codemirror/lint';
import { EditorState, Text, type Extension } from '@codemirror/state';
import { drawSelection, EditorView, highlightActiveLine, highlightActiveLineGutter, highlightSpecialChars, keymap, lineNumbers } from '@codemirror/view';
import { dialplanApi } from './apiModel.ts';
import { dialplanCompletion } from './completion.ts';
import { editorTheme } from './editorTheme.ts';
import { dialplanWarnings } from './warnings.ts';

export interface EditorCallbacks {
  onChange(source: string): void;
  onSave(): void;
  /** What saving `source` would say: its errors (none if it would be saved), and its warnings. */
  check(source: string): Promise<SourceError[]>;
}

/** Pause in typing before the source is checked (each check is a compile on the server). */
const CHECK_DELAY_MS = 600;

/** The page's CSP nonce (see web/vite.config.ts), for the style elements CodeMirror creates. */
const cspNonce = document.querySelector<HTMLMetaElement>('meta[property="csp-nonce"]')?.nonce ?? '';

export function editorExtensions(cb: EditorCallbacks): Extension[] {
  return [
    EditorView.cspNonce.of(cspNonce),
    lineNumbers(),
    highlightActiveLineGutter(),
    highlightSpecialChars(),
    history(),
    foldGutter(),
    lintGutter(),
    linter(
      (view) => {
        const doc = view.state.doc;
        return cb.check(doc.toString()).then((errors) => diagnosticsFor(doc, errors));
      },
      { delay: CHECK_DELAY_MS },
    ),
    drawSelection(),
    EditorState.allowMultipleSelections.of(true),
    indentOnInput(),
    editorTheme(),
    bracketMatching(),
    closeBrackets(),
    autocompletion({ activateOnTyping: true }),
    highlightActiveLine(),
    javascript(),
    javascriptLanguage.data.of({ autocomplete: dialplanCompletion(dialplanApi) }),
    keymap.of([
      { key: 'Mod-s', preventDefault: true, run: () => (cb.onSave(), true) },
      ...closeBracketsKeymap,
      ...defaultKeymap,
      ...historyKeymap,
      ...foldKeymap,
      ...completionKeymap,
      ...lintKeymap,
      indentWithTab,
    ]),
    EditorView.updateListener.of((u) => {
      if (u.docChanged) cb.onChange(u.state.doc.toString());
    }),
    EditorView.contentAttributes.of({ 'aria-label': 'Dialplan source', 'aria-describedby': 'editor-help' }),
  ];
}

export interface SourceError {
  line: number;
  column: number;
  message: string;
  /** Where it came from: `check` (as the user types), `save` (the server's compile check) or `test run`. */
  origin: string;
  /** An error stops the dialplan from being saved or run; a warning (warnings.ts) only points at a likely mistake. Default error. */
  severity?: 'error' | 'warning';
  /** Characters marked from the column (default 1). */
  length?: number;
}

/** The warnings of a source that compiles (warnings.ts), at their line and column. */
export function warningsOf(source: string): SourceError[] {
  const text = Text.of(source.split('\n'));
  return dialplanWarnings(source, javascriptLanguage.parser.parse(source), dialplanApi).map((w) => {
    const line = text.lineAt(w.from);
    return { line: line.number, column: w.from - line.from + 1, length: Math.max(1, Math.min(w.to, line.to) - w.from), message: w.message, origin: 'check', severity: 'warning' };
  });
}

export const isError = (e: SourceError) => (e.severity ?? 'error') === 'error';

/** Marks the errors at their line and column (1-based, as the server reports them). */
export function showErrors(view: EditorView, errors: SourceError[]): void {
  view.dispatch(setDiagnostics(view.state, diagnosticsFor(view.state.doc, errors)));
}

function diagnosticsFor(doc: Text, errors: SourceError[]): Diagnostic[] {
  return errors.map((e) => {
    const line = doc.line(Math.min(Math.max(1, e.line), doc.lines));
    let from = Math.min(line.from + Math.max(0, e.column - 1), line.to);
    if (from === line.to && line.length > 0) from = line.to - 1;
    const to = Math.min(from + Math.max(1, e.length ?? 1), line.to);
    return { from, to: Math.max(to, from), severity: e.severity ?? 'error', message: e.message, source: e.origin };
  });
}

/** Moves the cursor to an error and focuses the editor. */
export function revealLine(view: EditorView, line: number, column = 1): void {
  const l = view.state.doc.line(Math.min(Math.max(1, line), view.state.doc.lines));
  const pos = Math.min(l.from + Math.max(0, column - 1), l.to);
  view.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
  view.focus();
}
