/** A state in a word, with a colour that repeats what the word says (never the colour alone). */
import type { ReactNode } from 'react';
import type { Tone } from './tone.ts';

export function Badge({ tone, children, title }: { tone: Tone; children: ReactNode; title?: string }) {
  return (
    <span className={`badge ${tone}`} title={title}>
      <span className="dot" aria-hidden="true" />
      {children}
    </span>
  );
}
