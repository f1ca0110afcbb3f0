/** Examples to start from: each replaces the editor's text (unsaved until saved, like any edit). */
import { useState } from 'react';
import { DIALPLAN_EXAMPLES } from '../../../contract/dialplanExamples.ts';

export function ExampleGallery({ dirty, onUse }: { dirty: boolean; onUse: (source: string) => void }) {
  const [chosen, setChosen] = useState(DIALPLAN_EXAMPLES[0]!.id);
  const example = DIALPLAN_EXAMPLES.find((e) => e.id === chosen)!;
  const use = () => {
    if (dirty && !window.confirm('The editor has unsaved changes. Replace them with the example?')) return;
    onUse(example.source);
  };
  return (
    <div className="stack" data-testid="examples">
      <fieldset className="plain-list examples">
        <legend className="visually-hidden">Examples</legend>
        {DIALPLAN_EXAMPLES.map((e) => (
          <label key={e.id} className="example-choice">
            <input type="radio" name="example" value={e.id} checked={e.id === chosen} onChange={() => setChosen(e.id)} /> <strong>{e.title}</strong>
            <span className="muted small example-summary">{e.summary}</span>
          </label>
        ))}
      </fieldset>
      <div>
        <button type="button" className="btn small" onClick={use}>
          Use “{example.title}” in the editor
        </button>
      </div>
    </div>
  );
}
