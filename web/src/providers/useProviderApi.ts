/**
 * Provider data that stays current: loaded again whenever the event stream says a registration
 * state changed, and every so often besides (a retry time shown as "in 20 s" has to move on).
 */
import { useEffect } from 'react';
import { useLive } from '../live/LiveProvider.tsx';
import { useApi, type Loaded } from '../useApi.ts';

const POLL_MS = 15_000;

export function useProviderApi<T>(path: string | null): Loaded<T> {
  const loaded = useApi<T>(path, { pollMs: POLL_MS });
  const { providerChanges } = useLive().state;
  const { reload } = loaded;
  useEffect(() => {
    if (providerChanges > 0) void reload();
  }, [providerChanges, reload]);
  return loaded;
}
