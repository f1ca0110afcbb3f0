/** The portal: login and sign-up for visitors; everything else behind login, in one layout. */
import { lazy, Suspense, useEffect, type ReactNode } from 'react';
import { Loading } from './components/Feedback.tsx';
import { Layout } from './Layout.tsx';
import { LiveProvider } from './live/LiveProvider.tsx';
import { BlocksPage, OperationsPage } from './pages/BansPage.tsx';
import { CallDetailPage } from './pages/CallDetailPage.tsx';
import { CallsPage } from './pages/CallsPage.tsx';
import { DashboardPage } from './pages/DashboardPage.tsx';
import { DialplansPage } from './pages/DialplansPage.tsx';
import { LivePage } from './pages/LivePage.tsx';
import { LoginPage } from './pages/LoginPage.tsx';
import { NodesPage } from './pages/NodesPage.tsx';
import { NotFoundPage } from './pages/NotFoundPage.tsx';
import { PhonePage } from './pages/PhonePage.tsx';
import { PhonesPage } from './pages/PhonesPage.tsx';
import { ProviderPage } from './pages/ProviderPage.tsx';
import { PromptsPage } from './pages/PromptsPage.tsx';
import { ProvidersPage } from './pages/ProvidersPage.tsx';
import { RecordingsPage } from './pages/RecordingsPage.tsx';
import { SettingsPage } from './pages/SettingsPage.tsx';
import { SignupPage } from './pages/SignupPage.tsx';
import { SoftphonePage } from './pages/SoftphonePage.tsx';
import { SoftphoneProvider } from './softphone/SoftphoneProvider.tsx';
import { match, navigate, useLocation } from './router.tsx';
import { SessionProvider, useSession } from './session.tsx';

// CodeMirror is most of the portal's weight: it loads when a dialplan is opened.
const DialplanEditorPage = lazy(() => import('./dialplans/DialplanEditorPage.tsx'));

type Route = [pattern: string, render: (params: Record<string, string>) => ReactNode];

const ROUTES: Route[] = [
  ['/', () => <DashboardPage />],
  ['/phones', () => <PhonesPage />],
  ['/phones/:id', (p) => <PhonePage id={p.id!} />],
  ['/providers', () => <ProvidersPage />],
  ['/providers/new', () => <ProviderPage />],
  ['/providers/:id', (p) => <ProviderPage id={p.id!} />],
  ['/dialplans', () => <DialplansPage />],
  [
    '/dialplans/:name',
    (p) => (
      <Suspense fallback={<Loading what="the editor" />}>
        <DialplanEditorPage name={p.name!} />
      </Suspense>
    ),
  ],
  ['/calls', () => <CallsPage />],
  ['/calls/:id', (p) => <CallDetailPage id={p.id!} />],
  ['/live', () => <LivePage />],
  ['/softphone', () => <SoftphonePage />],
  ['/prompts', () => <PromptsPage />],
  ['/recordings', () => <RecordingsPage />],
  ['/settings', () => <SettingsPage />],
  ['/blocks', () => <BlocksPage />],
  ['/operations', () => <OperationsPage />],
  ['/nodes', () => <NodesPage />],
];

const PUBLIC = new Set(['/login', '/signup']);

function Routes() {
  const { pathname, url } = useLocation();
  const { state } = useSession();

  const isPublic = PUBLIC.has(pathname);
  useEffect(() => {
    if (state.status === 'anonymous' && !isPublic) {
      navigate(`/login${pathname === '/' ? '' : `?next=${encodeURIComponent(url)}`}`, { replace: true });
    } else if (state.status === 'in' && isPublic) {
      navigate('/', { replace: true });
    }
  }, [state.status, isPublic, pathname, url]);

  if (state.status === 'loading') return <Loading what="the portal" />;
  if (state.status === 'error') {
    return (
      <main className="centered">
        <div className="note error" role="alert">
          The portal could not reach the switch: {state.message}
        </div>
      </main>
    );
  }
  if (state.status === 'anonymous') {
    if (pathname === '/signup') return <SignupPage />;
    return <LoginPage expired={state.expired} />;
  }
  if (isPublic) return null;
  for (const [pattern, render] of ROUTES) {
    const params = match(pattern, pathname);
    if (params) {
      return (
        <SoftphoneProvider>
          <LiveProvider>
            <Layout>{render(params)}</Layout>
          </LiveProvider>
        </SoftphoneProvider>
      );
    }
  }
  return (
    <SoftphoneProvider>
      <LiveProvider>
        <Layout>
          <NotFoundPage />
        </Layout>
      </LiveProvider>
    </SoftphoneProvider>
  );
}

export function App() {
  return (
    <SessionProvider>
      <Routes />
    </SessionProvider>
  );
}
