/**
 * A table that may be wider than the page: it scrolls sideways inside this frame, which says so
 * (shadows at the edge that has more, styles.css) and can be scrolled from the keyboard (it takes
 * focus and is named for screen readers).
 */
import type { ReactNode } from 'react';

export function TableWrap({ label, card, children, testId }: { label: string; card?: boolean; children: ReactNode; testId?: string }) {
  return (
    <div className={card ? 'table-wrap card' : 'table-wrap'} role="region" aria-label={label} tabIndex={0} data-testid={testId}>
      {children}
    </div>
  );
}
