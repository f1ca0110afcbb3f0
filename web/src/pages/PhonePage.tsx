/**
 * One phone: what to type into the softphone, whether it is registered (from where, with what),
 * and its settings: display name, dialplans, digest algorithms, password, enabled, delete.
 */
import { useEffect, useState, type FormEvent } from 'react';
import { api, ApiError } from '../api/client.ts';
import type { DialplanList, Registration, SipAccount } from '../api/types.ts';
import { Badge } from '../components/Badge.tsx';
import { CopyButton } from '../components/CopyButton.tsx';
import { ErrorNote, Loading, Notice } from '../components/Feedback.tsx';
import { fieldErrors, SelectField, TextField } from '../components/Form.tsx';
import { Page, Section } from '../components/Page.tsx';
import { relative } from '../format.ts';
import { generateSipPassword, shownOnce } from '../phones/password.ts';
import { phoneState, sourceOf } from '../phones/phoneState.ts';
import { useRegistrationsOf } from '../phones/useRegistrations.ts';
import { SetupGuides } from '../phones/SetupGuides.tsx';
import { Link, navigate } from '../router.tsx';
import { useFormat, useSettings } from '../session.tsx';
import { useApi } from '../useApi.ts';
import { REGISTRATION_POLL_MS } from './PhonesPage.tsx';
import { TableWrap } from '../components/TableWrap.tsx';
import { DefaultDialplanOptions } from '../dialplans/DefaultDialplanOptions.tsx';

function SoftphoneSettings({ account }: { account: SipAccount }) {
  const { sip } = useSettings();
  const proxy = `${sip.proxy.host}:${sip.proxy.port}`;
  type Row = [label: string, value: string, note?: string, copy?: false];
  const rows: Row[] = [
    ['User name', account.username, 'also the authentication user'],
    ['Domain', account.domain, 'also called realm or registrar'],
    ['Outbound proxy', proxy, 'address and port'],
    ['Transport', sip.transports.map((t) => t.toUpperCase()).join(' or '), undefined, false],
    ['SIP address', account.sipUri],
    ...(account.extension ? [['Extension', account.extension, 'your other phones dial this number to reach it'] satisfies Row] : []),
  ];
  return (
    <Section title="Softphone settings" id="softphone">
      <dl className="settings-list" data-testid="softphone-settings">
        {rows.map(([label, value, note, copy]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd>
              <span className="mono" data-setting={label}>
                {value}
              </span>
              {copy !== false && <CopyButton text={value} label="Copy" />}
              {note && <span className="muted"> {note}</span>}
            </dd>
          </div>
        ))}
        <div>
          <dt>Password</dt>
          <dd className="muted">Shown once when it is set. Set a new one below if it is lost.</dd>
        </div>
      </dl>
    </Section>
  );
}

function RegistrationState({ account, bindings, error }: { account: SipAccount; bindings: Registration[]; error: unknown }) {
  const fmt = useFormat();
  const state = phoneState(account, bindings);
  return (
    <Section title="Registration" id="registration" actions={<Badge tone={state.tone}>{state.label}</Badge>}>
      <ErrorNote error={error} />
      <div aria-live="polite" data-testid="registration-state" data-registered={bindings.length > 0 ? 'yes' : 'no'}>
        {!account.enabled ? (
          <p>This phone is disabled: the switch refuses its registrations and calls.</p>
        ) : account.needsNewPassword ? (
          <p>The switch's domain changed since this password was set, so the phone cannot authenticate. Set a new password below.</p>
        ) : bindings.length === 0 ? (
          <p>
            No device is registered as <strong>{account.username}</strong>. Type the settings above into your phone; this updates by itself when it registers.
          </p>
        ) : (
          <TableWrap label="Registered devices">
            <table>
              <thead>
                <tr>
                  <th scope="col">From</th>
                  <th scope="col">User agent</th>
                  <th scope="col">Contact</th>
                  <th scope="col">Auth</th>
                  <th scope="col">Registered</th>
                  <th scope="col">Expires</th>
                </tr>
              </thead>
              <tbody>
                {bindings.map((b) => (
                  <tr key={b.id}>
                    <td className="mono">{sourceOf(b)}</td>
                    <td>{b.userAgent ?? <span className="muted">not sent</span>}</td>
                    <td className="mono wrap">{b.contact}</td>
                    <td>{b.digestAlgorithm}</td>
                    <td title={fmt.dateTime(b.registeredAt)}>
                      {relative(b.registeredAt)}
                      <div className="muted">refreshed {relative(b.refreshedAt)}</div>
                    </td>
                    <td title={fmt.dateTime(b.expiresAt)}>{relative(b.expiresAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        )}
      </div>
    </Section>
  );
}

const ALGORITHM_CHOICES: Array<[string, string]> = [
  ['', 'Switch default'],
  ['MD5', 'MD5 only (most phones)'],
  ['SHA-256', 'SHA-256 only (safer; newer phones)'],
  ['SHA-256,MD5', 'SHA-256, then MD5'],
];

function EditPhone({ account, onSaved }: { account: SipAccount; onSaved: (a: SipAccount) => void }) {
  const dialplans = useApi<DialplanList>('/dialplans');
  const [displayName, setDisplayName] = useState(account.displayName ?? '');
  const [dialplanOut, setDialplanOut] = useState(account.dialplanOut ?? '');
  const [dialplanIn, setDialplanIn] = useState(account.dialplanIn ?? '');
  const [algorithms, setAlgorithms] = useState(account.digestAlgorithms?.join(',') ?? '');
  const [extension, setExtension] = useState(account.extension ?? '');
  const [error, setError] = useState<unknown>();
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const names = dialplans.data?.items.map((d) => d.name) ?? [];

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setSaved(false);
    try {
      const a = await api.patch<SipAccount>(`/sip-accounts/${account.id}`, {
        displayName: displayName.trim() || null,
        dialplanOut: dialplanOut || null,
        dialplanIn: dialplanIn || null,
        digestAlgorithms: algorithms ? algorithms.split(',') : null,
        extension: extension.trim() || null,
      });
      onSaved(a);
      setSaved(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const errs = fieldErrors(error, ['displayName', 'dialplanOut', 'dialplanIn', 'digestAlgorithms', 'extension']);
  return (
    <Section title="Settings" id="edit">
      <form onSubmit={submit} className="form-grid">
        <ErrorNote error={errs.general} />
        {saved && <Notice tone="success">Saved.</Notice>}
        <TextField label="Display name" value={displayName} onChange={(e) => setDisplayName(e.target.value)} error={errs.forField('displayName')} />
        <TextField
          label="Extension"
          value={extension}
          inputMode="numeric"
          onChange={(e) => setExtension(e.target.value)}
          error={errs.forField('extension')}
          hint="2–6 digits your other phones dial to reach this one; empty for none."
        />
        <SelectField label="Dialplan for calls it places" value={dialplanOut} onChange={(e) => setDialplanOut(e.target.value)} error={errs.forField('dialplanOut')}>
          <DefaultDialplanOptions dialplans={dialplans.data?.items} />
        </SelectField>
        <SelectField
          label="Dialplan for calls it receives"
          value={dialplanIn}
          onChange={(e) => setDialplanIn(e.target.value)}
          error={errs.forField('dialplanIn')}
          hint="Without one, a call to this phone's address rings its registered devices."
        >
          <option value="">none: ring its devices</option>
          {names.map((n) => (
            <option key={n}>{n}</option>
          ))}
        </SelectField>
        <SelectField label="Digest algorithms offered" value={algorithms} onChange={(e) => setAlgorithms(e.target.value)} error={errs.forField('digestAlgorithms')}>
          {ALGORITHM_CHOICES.map(([v, label]) => (
            <option key={v} value={v}>
              {label}
            </option>
          ))}
        </SelectField>
        <div className="form-actions">
          <button type="submit" className="btn primary" disabled={busy}>
            {busy ? 'Saving…' : 'Save'}
          </button>
        </div>
      </form>
    </Section>
  );
}

function OneTimePassword({ password, onDismiss }: { password: string; onDismiss: () => void }) {
  return (
    <div className="note success secret" role="status">
      <p>
        <strong>The phone's password — shown only this once.</strong> The switch keeps only a digest of it. Copy it into your phone now.
      </p>
      <p className="secret-value">
        <code data-testid="new-password">{password}</code> <CopyButton text={password} label="Copy password" />
      </p>
      <button type="button" className="btn small" onClick={onDismiss}>
        I have saved it
      </button>
    </div>
  );
}

export function PhonePage({ id }: { id: string }) {
  const account = useApi<SipAccount>(`/sip-accounts/${encodeURIComponent(id)}`);
  const registrations = useRegistrationsOf([id], REGISTRATION_POLL_MS);
  const [current, setCurrent] = useState<SipAccount>();
  const [password, setPassword] = useState(() => shownOnce.get(id));
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  // The password leaves memory when the page is left.
  useEffect(() => () => void shownOnce.delete(id), [id]);

  const a = current ?? account.data;
  if (account.error) {
    return (
      <Page title="Phone">
        <ErrorNote error={account.error} />
        <Link to="/phones">All phones</Link>
      </Page>
    );
  }
  if (!a) return <Loading what="the phone" />;

  const act = async (what: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await what();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const newPassword = () =>
    act(async () => {
      const pw = generateSipPassword();
      setCurrent(await api.patch<SipAccount>(`/sip-accounts/${a.id}`, { password: pw }));
      setPassword(pw);
    });
  const toggle = () => act(async () => setCurrent(await api.patch<SipAccount>(`/sip-accounts/${a.id}`, { enabled: !a.enabled })));
  const remove = () =>
    act(async () => {
      if (!window.confirm(`Delete the phone ${a.username}? Its devices will no longer register or place calls.`)) return;
      try {
        await api.delete(`/sip-accounts/${a.id}`);
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) throw err;
      }
      navigate('/phones');
    });

  return (
    <Page title={a.username} subtitle={a.displayName ?? <Link to="/phones">All phones</Link>}>
      {password && <OneTimePassword password={password} onDismiss={() => setPassword(undefined)} />}
      <div className="grid two">
        <SoftphoneSettings account={a} />
        <RegistrationState account={a} bindings={registrations.data ?? []} error={registrations.error} />
      </div>
      <SetupGuides account={a} password={password} />
      <div className="grid two">
        <EditPhone account={a} onSaved={setCurrent} />
        <Section title="Password and access" id="access">
          <ErrorNote error={error} />
          <div className="stack">
            <div>
              <button type="button" className="btn" onClick={newPassword} disabled={busy}>
                Generate a new password
              </button>
              <p className="hint">The old password stops working at once; phones using it must be given the new one.</p>
            </div>
            <div>
              <button type="button" className="btn" onClick={toggle} disabled={busy}>
                {a.enabled ? 'Disable phone' : 'Enable phone'}
              </button>
              <p className="hint">
                {a.enabled ? 'A disabled phone cannot register or place calls; its settings are kept.' : 'Enabled again, the phone can register with its current password.'}
              </p>
            </div>
            <div>
              <button type="button" className="btn danger" onClick={remove} disabled={busy}>
                Delete phone
              </button>
            </div>
          </div>
        </Section>
      </div>
    </Page>
  );
}
