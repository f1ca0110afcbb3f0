/**
 * The options of a picker whose empty choice means "the tenant's default dialplan": that choice,
 * then every other dialplan. `default` itself is not listed again (the empty choice is it, and a
 * saved `default` would otherwise show twice).
 */
import type { DialplanSummary } from '../api/types.ts';

export const DEFAULT_DIALPLAN = 'default';

export function DefaultDialplanOptions({ dialplans }: { dialplans: DialplanSummary[] | undefined }) {
  return (
    <>
      <option value="">{DEFAULT_DIALPLAN}</option>
      {dialplans
        ?.filter((d) => d.name !== DEFAULT_DIALPLAN)
        .map((d) => (
          <option key={d.name}>{d.name}</option>
        ))}
    </>
  );
}
