/** The tenant's SIP accounts (one per phone or softphone) with their live registration state. */
import { useState, type FormEvent } from 'react';
import { api } from '../api/client.ts';
import type { SipAccount } from '../api/types.ts';
import { Badge } from '../components/Badge.tsx';
import { Empty, ErrorNote, Loading } from '../components/Feedback.tsx';
import { fieldErrors, TextField } from '../components/Form.tsx';
import { Page, Section } from '../components/Page.tsx';
import { relative } from '../format.ts';
import { bindingsByAccount, phoneState, sourceOf } from '../phones/phoneState.ts';
import { generateSipPassword, shownOnce } from '../phones/password.ts';
import { useRegistrationsOf } from '../phones/useRegistrations.ts';
import { Link, navigate, useLocation } from '../router.tsx';
import { useApi } from '../useApi.ts';
import { TableWrap } from '../components/TableWrap.tsx';

export const REGISTRATION_POLL_MS = 3000;

function NewPhoneForm({ onCancel }: { onCancel: () => void }) {
  const [username, setUsername] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const password = generateSipPassword();
    try {
      const account = await api.post<SipAccount>('/sip-accounts', { username, password, ...(displayName.trim() ? { displayName } : {}) });
      shownOnce.set(account.id, password);
      navigate(`/phones/${account.id}`);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  const errs = fieldErrors(error, ['username', 'displayName']);
  return (
    <Section title="New phone">
      <form onSubmit={submit} className="form-grid">
        <ErrorNote error={errs.general} />
        <TextField
          label="Username"
          name="username"
          value={username}
          onChange={(e) => setUsername(e.target.value)}
          error={errs.forField('username')}
          hint="2–32 characters: a letter, then letters, digits, “.”, “_” or “-”. Unique on this switch; other phones dial it."
          autoComplete="off"
          spellCheck={false}
          required
          autoFocus
        />
        <TextField label="Display name (optional)" name="displayName" value={displayName} onChange={(e) => setDisplayName(e.target.value)} error={errs.forField('displayName')} />
        <p className="hint">
          A strong password is generated for the phone and shown once, on the next page. The phone gets the next free extension (100, 101, …), which your other phones dial to reach
          it.
        </p>
        <div className="form-actions">
          <button type="submit" className="btn primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create phone'}
          </button>
          <button type="button" className="btn" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </Section>
  );
}

/** Phones shown at once: their registrations are what the page asks the switch for. */
const PHONES_PER_PAGE = 50;

export function PhonesPage() {
  const accounts = useApi<{ items: SipAccount[] }>('/sip-accounts');
  // `/phones?new` (the getting-started checklist's link) opens the form at once.
  const [creating, setCreating] = useState(useLocation().search.has('new'));
  const [page, setPage] = useState(0);
  const all = accounts.data?.items ?? [];
  const pages = Math.max(1, Math.ceil(all.length / PHONES_PER_PAGE));
  const shown = all.slice(Math.min(page, pages - 1) * PHONES_PER_PAGE).slice(0, PHONES_PER_PAGE);
  const registrations = useRegistrationsOf(accounts.data ? shown.map((a) => a.id) : null, REGISTRATION_POLL_MS);
  const bindings = bindingsByAccount(registrations.data);

  return (
    <Page
      title="Phones"
      subtitle="Each phone or softphone signs in to the switch with a SIP account."
      actions={
        !creating && (
          <button type="button" className="btn primary" onClick={() => setCreating(true)}>
            New phone
          </button>
        )
      }
    >
      {creating && <NewPhoneForm onCancel={() => setCreating(false)} />}
      <ErrorNote error={accounts.error} />
      <ErrorNote error={registrations.error} title="Registration states could not be loaded:" />
      {accounts.loading && !accounts.data ? (
        <Loading what="phones" />
      ) : accounts.data?.items.length === 0 ? (
        !creating && <Empty>No phones yet. Create one, type its settings into your phone, and it will show up here as registered.</Empty>
      ) : (
        <TableWrap card label="Phones">
          <table>
            <thead>
              <tr>
                <th scope="col">Phone</th>
                <th scope="col">Extension</th>
                <th scope="col">State</th>
                <th scope="col">Registered from</th>
                <th scope="col">Dialplans (places / receives)</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((a) => {
                const b = bindings.get(a.id) ?? [];
                const state = phoneState(a, b);
                return (
                  <tr key={a.id}>
                    <td>
                      <Link to={`/phones/${a.id}`} className="strong">
                        {a.username}
                      </Link>
                      {a.displayName && <div className="muted">{a.displayName}</div>}
                    </td>
                    <td className="mono">{a.extension ?? '—'}</td>
                    <td>
                      <Badge tone={state.tone}>{state.label}</Badge>
                    </td>
                    <td>
                      {b.length === 0
                        ? '—'
                        : b.map((x) => (
                            <div key={x.id}>
                              <span className="mono">{sourceOf(x)}</span>
                              <span className="muted">
                                {' '}
                                · {x.userAgent ?? 'unknown user agent'} · refreshed {relative(x.refreshedAt)}
                              </span>
                            </div>
                          ))}
                    </td>
                    <td>
                      {a.dialplanOut ?? 'default'} / {a.dialplanIn ?? 'rings its phones'}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </TableWrap>
      )}
      {pages > 1 && (
        <nav className="pager" aria-label="Pages">
          <button type="button" className="btn" onClick={() => setPage((p) => Math.max(0, p - 1))} disabled={page === 0}>
            ← Previous
          </button>
          <span className="muted">
            Phones {Math.min(page, pages - 1) * PHONES_PER_PAGE + 1}–{Math.min(page, pages - 1) * PHONES_PER_PAGE + shown.length} of {all.length}
          </span>
          <button type="button" className="btn" onClick={() => setPage((p) => Math.min(pages - 1, p + 1))} disabled={page >= pages - 1}>
            Next →
          </button>
        </nav>
      )}
    </Page>
  );
}
