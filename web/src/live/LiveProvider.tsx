/**
 * One event stream per logged-in tab (GET /api/v1/events, server-sent events) that every page
 * reads: the dashboard, the live view, the call records, which refresh when a call ends, and the
 * providers, which reload when a registration state changes.
 * On every (re)connection the current calls are loaded again from GET /calls; events that arrive
 * meanwhile are held and applied on top of that snapshot.
 */
import { createContext, useContext, useEffect, useReducer, useState, type ReactNode } from 'react';
import { api, API_BASE } from '../api/client.ts';
import type { LiveCall, LiveEvent } from '../api/types.ts';
import { applyEvent, applySnapshot, emptyLiveState, type LiveState } from './liveState.ts';

export type Connection = 'connecting' | 'live' | 'retrying';

interface LiveContextValue {
  state: LiveState;
  connection: Connection;
}

const LiveContext = createContext<LiveContextValue>({ state: emptyLiveState, connection: 'connecting' });

type Action = { type: 'snapshot'; calls: LiveCall[]; held: LiveEvent[] } | { type: 'event'; event: LiveEvent };

function reducer(state: LiveState, a: Action): LiveState {
  if (a.type === 'event') return applyEvent(state, a.event);
  return a.held.reduce(applyEvent, applySnapshot(state, a.calls));
}

const RETRY_MS = 5000;

export function LiveProvider({ children }: { children: ReactNode }) {
  const [state, dispatch] = useReducer(reducer, emptyLiveState);
  const [connection, setConnection] = useState<Connection>('connecting');

  useEffect(() => {
    let source: EventSource | undefined;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    let held: LiveEvent[] | null = null;

    const loadSnapshot = async () => {
      held = [];
      try {
        const { items } = await api.get<{ items: LiveCall[] }>('/calls');
        if (!stopped) dispatch({ type: 'snapshot', calls: items, held });
      } finally {
        held = null;
      }
    };

    const connect = () => {
      setConnection('connecting');
      source = new EventSource(`${API_BASE}/events`);
      source.onopen = () => {
        setConnection('live');
        void loadSnapshot().catch(() => undefined);
      };
      source.onmessage = (m: MessageEvent<string>) => {
        const event = JSON.parse(m.data) as LiveEvent;
        if (held) held.push(event);
        else dispatch({ type: 'event', event });
      };
      source.onerror = () => {
        // The browser retries a dropped stream itself; a refused one (401, 5xx) it gives up on.
        if (source?.readyState === EventSource.CLOSED && !stopped) {
          setConnection('retrying');
          retry = setTimeout(connect, RETRY_MS);
        } else if (!stopped) setConnection('retrying');
      };
    };
    connect();
    return () => {
      stopped = true;
      clearTimeout(retry);
      source?.close();
    };
  }, []);

  return <LiveContext.Provider value={{ state, connection }}>{children}</LiveContext.Provider>;
}

export const useLive = () => useContext(LiveContext);
