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
  const [data, setData] = useState<T>();
  const [error, setError] = useState<unknown>();
  const [loading, setLoading] = useState(path !== null);
  const current = useRef(path);
  current.current = path;

  const load = useCallback(async () => {
    if (path === null) return;
    try {
      const d = await api.get<T>(path);
      if (current.current !== path) return;
      setData(d);
      setError(undefined);
    } catch (err) {
      if (current.current === path) setError(err);
    } finally {
      if (current.current === path) setLoading(false);
    }
  }, [path]);

  useEffect(() => {
    setLoading(path !== null);
    void load();
    if (!opts.pollMs || path === null) return;
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') void load();
    }, opts.pollMs);
    return () => clearInterval(timer);
  }, [load, path, opts.pollMs]);

  return { data, error, loading, reload: load };
}
