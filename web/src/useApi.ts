/** Loading data from the API into a component, optionally refreshed while the page is visible. */
import { useCallback, useEffect, useRef, useState } from 'react';
import { api } from './api/client.ts';

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  /** Loads again now; resolves when done. */
  reload(): Promise<void>;
}

/** GETs `path` (none while null); with `pollMs`, again every so often while the tab is visible. */
export function useApi<T>(path: string | null, opts: { pollMs?: number } = {}): Loaded<T> {
  return useLoader(path, (p) => api.get<T>(p), opts);
}

/**
 * Runs `load(key)` (none while `key` is null) whenever `key` changes; with `pollMs`, again every so
 * often while the tab is visible. `key` names what is loaded: an answer for an older key is dropped.
 */
export function useLoader<T>(key: string | null, load: (key: string) => Promise<T>, opts: { pollMs?: number } = {}): Loaded<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<unknown>();
  const [loading, setLoading] = useState(key !== null);
  const current = useRef(key);
  current.current = key;
  const loader = useRef(load);
  loader.current = load;

  const run = useCallback(async () => {
    if (key === null) return;
    try {
      const d = await loader.current(key);
      if (current.current !== key) return;
      setData(d);
      setError(undefined);
    } catch (err) {
      if (current.current === key) setError(err);
    } finally {
      if (current.current === key) setLoading(false);
    }
  }, [key]);

  useEffect(() => {
    setLoading(key !== null);
    void run();
    if (!opts.pollMs || key === null) return;
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') void run();
    }, opts.pollMs);
    return () => clearInterval(timer);
  }, [run, key, opts.pollMs]);

  return { data, error, loading, reload: run };
}
