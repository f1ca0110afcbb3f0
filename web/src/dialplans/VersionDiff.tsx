/** An old version beside the current one, changes marked (read-only; Restore makes it current). */
import { javascript } from '@codemirror/lang-javascript';
import { MergeView } from '@codemirror/merge';
import { EditorState } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { useEffect, useRef } from 'react';

const readOnly = [javascript(), EditorState.readOnly.of(true), EditorView.editable.of(false), EditorView.lineWrapping];

export function VersionDiff({ old, current, labels }: { old: string; current: string; labels: [string, string] }) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const view = new MergeView({ a: { doc: old, extensions: readOnly }, b: { doc: current, extensions: readOnly }, parent: host.current!, collapseUnchanged: { margin: 3 } });
    return () => view.destroy();
  }, [old, current]);
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
