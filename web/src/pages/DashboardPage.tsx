/** The state of everything at a glance: phones, providers, calls now, calls lately. */
import type { CdrPage, DialplanList, Provider, RegistrationSummary, SipAccount } from '../api/types.ts';
import { Badge } from '../components/Badge.tsx';
import { Empty, ErrorNote } from '../components/Feedback.tsx';
import { Page, Section } from '../components/Page.tsx';
import { duration } from '../format.ts';
import { CHANNEL_LABEL, CHANNEL_TONE, STATUS_TONE } from '../calls/words.ts';
import { useLive } from '../live/LiveProvider.tsx';
import { channelsOf } from '../live/liveState.ts';
import { useAfterCallEnds } from '../live/useAfterCallEnds.ts';
import { bindingsByAccount, phoneState, sourceOf } from '../phones/phoneState.ts';
import { useRegistrationsOf } from '../phones/useRegistrations.ts';
import { describeProviderStatus, providerTone, STATE_LABEL } from '../providers/statusWords.ts';
import { QuarantineNote } from '../dialplans/QuarantineNote.tsx';
import { GettingStarted } from '../dashboard/GettingStarted.tsx';
import { CallCharts } from '../dashboard/CallCharts.tsx';
import { Link } from '../router.tsx';
import { useFormat } from '../session.tsx';
import { useApi } from '../useApi.ts';
import { REGISTRATION_POLL_MS } from './PhonesPage.tsx';
import { providersMissing } from './ProvidersPage.tsx';
import { useProviderApi } from '../providers/useProviderApi.ts';

/** Phones listed on the dashboard; the rest are a click away. */
const PHONES_SHOWN = 8;

function Phones() {
  const accounts = useApi<{ items: SipAccount[] }>('/sip-accounts');
  const summary = useApi<RegistrationSummary>('/registrations/summary', { pollMs: REGISTRATION_POLL_MS });
  const items = accounts.data?.items ?? [];
  const shown = items.slice(0, PHONES_SHOWN);
  const registrations = useRegistrationsOf(accounts.data ? shown.map((a) => a.id) : null, REGISTRATION_POLL_MS);
  const bindings = bindingsByAccount(registrations.data);
  return (
    <Section title="Phones" actions={<Link to="/phones">All phones</Link>}>
      <ErrorNote error={accounts.error ?? summary.error ?? registrations.error} />
      <p className="big-number">
        {summary.data?.registeredAccounts ?? '…'} <span>of {items.length} registered</span>
      </p>
      {accounts.data && items.length === 0 && (
        <Empty>
          No phones yet. <Link to="/phones">Create one</Link>.
        </Empty>
      )}
      <ul className="plain-list">
        {shown.map((a) => {
          const b = bindings.get(a.id) ?? [];
          const s = phoneState(a, b);
          return (
            <li key={a.id}>
              <Link to={`/phones/${a.id}`}>{a.username}</Link> <Badge tone={s.tone}>{s.label}</Badge>
              {b[0] && <span className="muted mono small"> {sourceOf(b[0])}</span>}
            </li>
          );
        })}
      </ul>
    </Section>
  );
}

function Providers() {
  const fmt = useFormat();
  const providers = useProviderApi<{ items: Provider[] }>('/providers');
  const list = providers.data?.items ?? [];
  return (
    <Section title="Providers" actions={<Link to="/providers">All providers</Link>}>
      {providersMissing(providers.error) ? <p className="muted">This switch does not offer SIP providers yet.</p> : <ErrorNote error={providers.error} />}
      {providers.data && list.length === 0 && (
        <Empty>
          No providers. <Link to="/providers/new">Add one</Link> to reach the phone network.
        </Empty>
      )}
      <ul className="plain-list">
        {list.map((p) => (
          <li key={p.id}>
            <Link to={`/providers/${p.id}`}>{p.name}</Link> <Badge tone={providerTone(p.status)}>{STATE_LABEL[p.status.state]}</Badge>
            {p.status.state === 'failed' && <div className="muted small">{describeProviderStatus(p, fmt.dateTime)}</div>}
          </li>
        ))}
      </ul>
    </Section>
  );
}

function CallsNow() {
  const { state } = useLive();
  const calls = Object.values(state.calls);
  return (
    <Section title="Calls in progress" actions={<Link to="/live">Live view</Link>}>
      <p className="big-number">{calls.length}</p>
      {calls.length === 0 ? (
        <p className="muted">No calls right now.</p>
      ) : (
        <ul className="plain-list">
          {calls.map((c) => {
            const chs = channelsOf(c);
            const caller = chs[0];
            const callee = chs.find((x) => x.direction === 'outbound' && x.state !== 'hungup') ?? chs[1];
            const state = callee?.state ?? caller?.state ?? 'down';
            return (
              <li key={c.callId}>
                <span className="mono">
                  {caller?.from.user} → {caller?.to.user}
                </span>{' '}
                <Badge tone={CHANNEL_TONE[state]}>{CHANNEL_LABEL[state]}</Badge>
              </li>
            );
          })}
        </ul>
      )}
    </Section>
  );
}

function RecentCalls() {
  const fmt = useFormat();
  const recent = useApi<CdrPage>('/cdrs?limit=8');
  useAfterCallEnds(() => void recent.reload());
  return (
    <Section title="Recent calls" actions={<Link to="/calls">Call records</Link>}>
      <ErrorNote error={recent.error} />
      {recent.data?.items.length === 0 && <Empty>No calls yet.</Empty>}
      <ul className="plain-list">
        {recent.data?.items.map((c) => (
          <li key={c.id}>
            <Link to={`/calls/${c.id}`} className="mono">
              {c.caller} → {c.callee}
            </Link>{' '}
            <Badge tone={STATUS_TONE[c.status]}>{c.status}</Badge>
            <span className="muted small">
              {' '}
              {fmt.dateTime(c.startedAt)}
              {c.talkMs ? ` · ${duration(c.talkMs)}` : ''}
            </span>
          </li>
        ))}
      </ul>
    </Section>
  );
}

/** Suspended dialplans stop every call they would decide: said first, where the tenant looks. */
function DialplanSuspension() {
  const list = useApi<DialplanList>('/dialplans');
  return <QuarantineNote quarantine={list.data?.quarantine} />;
}

export function DashboardPage() {
  return (
    <Page title="Dashboard">
      <DialplanSuspension />
      <GettingStarted />
      <div className="grid two">
        <Phones />
        <Providers />
        <CallsNow />
        <RecentCalls />
      </div>
      <CallCharts />
    </Page>
  );
}
