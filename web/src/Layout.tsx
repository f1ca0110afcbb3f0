/** The frame of every page behind login: navigation, who is logged in, and the page itself. */
import type { ReactNode } from 'react';
import { useLive } from './live/LiveProvider.tsx';
import { CallBanner } from './softphone/CallBanner.tsx';
import { Link, useLocation } from './router.tsx';
import { useSession } from './session.tsx';

const NAV: Array<[path: string, label: string]> = [
  ['/', 'Dashboard'],
  ['/phones', 'Phones'],
  ['/softphone', 'Softphone'],
  ['/providers', 'Providers'],
  ['/dialplans', 'Dialplans'],
  ['/live', 'Live calls'],
  ['/calls', 'Call records'],
  ['/recordings', 'Recordings'],
  ['/prompts', 'Prompts'],
  ['/settings', 'Settings'],
  ['/blocks', 'Blocks'],
];
/** Shown to operators only (the API refuses everyone else anyway). */
const OPERATOR_NAV: Array<[path: string, label: string]> = [
  ['/operations', 'Operations'],
  ['/nodes', 'Nodes'],
];

export function Layout({ children }: { children: ReactNode }) {
  const { pathname } = useLocation();
  const { state, logout } = useSession();
  const { state: live } = useLive();
  const email = state.status === 'in' ? state.me.user?.email : undefined;
  const nav = state.status === 'in' && state.me.operator ? [...NAV, ...OPERATOR_NAV] : NAV;
  const active = (path: string) => (path === '/' ? pathname === '/' : pathname === path || pathname.startsWith(`${path}/`));
  const liveCount = Object.keys(live.calls).length;

  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <aside className="sidebar">
        <div className="sidebar-inner">
          <Link to="/" className="brand">
            <img src="/favicon.svg" alt="" width={28} height={28} />
            <span>sipswitch</span>
          </Link>
          <nav aria-label="Main">
            <ul>
              {nav.map(([path, label]) => (
                <li key={path}>
                  <Link to={path} aria-current={active(path) ? 'page' : undefined}>
                    {label}
                    {path === '/live' && liveCount > 0 && (
                      <span className="count" aria-label={`${liveCount} in progress`}>
                        {liveCount}
                      </span>
                    )}
                  </Link>
                </li>
              ))}
            </ul>
          </nav>
          <div className="who">
            <span className="email" title={email}>
              {email}
            </span>
            <button type="button" className="btn small ghost" onClick={() => void logout()}>
              Log out
            </button>
          </div>
        </div>
      </aside>
      <main id="main" className="content">
        <CallBanner />
        {children}
      </main>
    </div>
  );
}
