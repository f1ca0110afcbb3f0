/** An old version beside the current one, changes marked (read-only; Restore makes it current). */
import { javascript } from '@codemirror/lang-javascript';
import { MergeView } from '@codemirror/merge';
import { EditorState } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { useEffect, useRef } from 'react';
import { editorTheme } from './editorTheme.ts';

/** Read-only but focusable (the keyboard scrolls it), in the editor's own colours, named for screen readers. */
const side = (label: string) => [javascript(), editorTheme(), EditorState.readOnly.of(true), EditorView.lineWrapping, EditorView.contentAttributes.of({ 'aria-label': label })];

export function VersionDiff({ old, current, labels }: { old: string; current: string; labels: [string, string] }) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const view = new MergeView({
      a: { doc: old, extensions: side(labels[0]) },
      b: { doc: current, extensions: side(labels[1]) },
      parent: host.current!,
      collapseUnchanged: { margin: 3 },
    });
    return () => view.destroy();
  }, [old, current, labels[0], labels[1]]);
  return (
    <div className="version-diff" data-testid="version-diff">
      <div className="version-diff-labels muted small">
        <span>{labels[0]}</span>
        <span>{labels[1]}</span>
      </div>
      <div ref={host} />
    </div>
  );
}
