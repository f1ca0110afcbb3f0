/**
 * Client-side routing on the History API: the server answers every portal path with index.html,
 * and this decides which page it is. Small on purpose: paths with `:params`, links, navigation.
 */
import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from 'react';

const listeners = new Set<() => void>();
const notify = () => {
  for (const fn of listeners) fn();
};
window.addEventListener('popstate', notify);

function subscribe(fn: () => void) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

const currentUrl = () => window.location.pathname + window.location.search;

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (to === currentUrl()) return;
  window.history[opts.replace ? 'replaceState' : 'pushState'](null, '', to);
  notify();
  if (!opts.replace) window.scrollTo(0, 0);
}

/** The current path and query; re-renders on navigation. */
export function useLocation(): { pathname: string; search: URLSearchParams; url: string } {
  const url = useSyncExternalStore(subscribe, currentUrl);
  const u = new URL(url, window.location.origin);
  return { pathname: u.pathname, search: u.searchParams, url };
}

/** `/phones/:id` against `/phones/abc` gives `{id: 'abc'}`; no match gives null. */
export function match(pattern: string, pathname: string): Record<string, string> | null {
  const p = pattern.split('/').filter(Boolean);
  const s = pathname.split('/').filter(Boolean);
  if (p.length !== s.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    const part = p[i]!;
    const seg = s[i]!;
    if (part.startsWith(':')) params[part.slice(1)] = decodeURIComponent(seg);
    else if (part !== seg) return null;
  }
  return params;
}

type LinkProps = AnchorHTMLAttributes<HTMLAnchorElement> & { to: string };

export function Link({ to, onClick, ...rest }: LinkProps) {
  const handle = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    // Let the browser handle new tabs and windows.
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return <a href={to} onClick={handle} {...rest} />;
}
