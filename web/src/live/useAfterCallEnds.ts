import { useEffect, useRef } from 'react';
import { useLive } from './LiveProvider.tsx';

/** The CDR writer stores a finished call's record within a second. */
const RECORD_DELAY_MS = 800;

/** Runs `fn` shortly after each of the tenant's calls ends, when its record can be read. */
export function useAfterCallEnds(fn: () => void): void {
  const { endedCount } = useLive().state;
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => {
    if (endedCount === 0) return;
    const t = setTimeout(() => latest.current(), RECORD_DELAY_MS);
    return () => clearTimeout(t);
  }, [endedCount]);
}
