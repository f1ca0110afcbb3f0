/**
 * Who is logged in and the tenant's settings, for every page. The session itself is an HttpOnly
 * cookie the page never sees; nothing secret is kept in the browser's storage.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, ApiError, onUnauthorized } from './api/client.ts';
import type { Me, Settings } from './api/types.ts';
import { formatterFor, type Formatter } from './format.ts';

export type SessionState = { status: 'loading' } | { status: 'anonymous'; expired: boolean } | { status: 'error'; message: string } | { status: 'in'; me: Me; settings: Settings };

interface SessionApi {
  state: SessionState;
  /** Reads /me and /settings again (after login, or after settings changed). */
  refresh(): Promise<void>;
  logout(): Promise<void>;
  setSettings(s: Settings): void;
}

const SessionContext = createContext<SessionApi | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<SessionState>({ status: 'loading' });

  const refresh = useCallback(async () => {
    try {
      const [me, settings] = await Promise.all([api.get<Me>('/me'), api.get<Settings>('/settings')]);
      setState({ status: 'in', me, settings });
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) setState({ status: 'anonymous', expired: false });
      else setState({ status: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  }, []);

  useEffect(() => {
    void refresh();
    return onUnauthorized(() => setState((s) => (s.status === 'in' ? { status: 'anonymous', expired: true } : s)));
  }, [refresh]);

  const logout = useCallback(async () => {
    await api.post('/auth/logout').catch(() => undefined);
    setState({ status: 'anonymous', expired: false });
  }, []);

  const setSettings = useCallback((settings: Settings) => {
    setState((s) => (s.status === 'in' ? { ...s, settings, me: { ...s.me, tenant: s.me.tenant && { ...s.me.tenant, timeZone: settings.timeZone } } } : s));
  }, []);

  const value = useMemo(() => ({ state, refresh, logout, setSettings }), [state, refresh, logout, setSettings]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionApi {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside SessionProvider');
  return s;
}

/** The logged-in tenant's settings; only for pages behind login. */
export function useSettings(): Settings {
  const { state } = useSession();
  if (state.status !== 'in') throw new Error('useSettings on a page that is not behind login');
  return state.settings;
}

/** Formats times in the tenant's time zone. */
export function useFormat(): Formatter {
  const { timeZone } = useSettings();
  return useMemo(() => formatterFor(timeZone), [timeZone]);
}
