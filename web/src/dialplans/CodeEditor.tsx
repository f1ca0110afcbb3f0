/** CodeMirror in a React component: created once, its document replaced only when asked. */
import { EditorState } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { useEffect, useRef, type RefObject } from 'react';
import { editorExtensions, type EditorCallbacks } from './editorSetup.ts';

export function CodeEditor({ initial, viewRef, callbacks }: { initial: string; viewRef: RefObject<EditorView | null>; callbacks: EditorCallbacks }) {
  const host = useRef<HTMLDivElement>(null);
  // The editor lives longer than any one render's callbacks.
  const latest = useRef(callbacks);
  latest.current = callbacks;

  useEffect(() => {
    const view = new EditorView({
      parent: host.current!,
      state: EditorState.create({
        doc: initial,
        extensions: editorExtensions({
          onChange: (s) => latest.current.onChange(s),
          onSave: () => latest.current.onSave(),
          check: (s) => latest.current.check(s),
        }),
      }),
    });
    viewRef.current = view;
    return () => {
      view.destroy();
      viewRef.current = null;
    };
    // Created once per mount; later documents are set through the view.
  }, []);

  return <div ref={host} className="code-editor" data-testid="dialplan-editor" />;
}

/** Replaces the whole document (a restored or reloaded version). */
export function replaceDocument(view: EditorView, source: string): void {
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: source } });
}
