/** The tenant's settings: time zone, calls abroad, portal password, API keys, and the limits the switch enforces. */
import { useMemo, useState, type FormEvent } from 'react';
import { api } from '../api/client.ts';
import type { ApiKey, Settings } from '../api/types.ts';
import { Badge } from '../components/Badge.tsx';
import { CopyButton } from '../components/CopyButton.tsx';
import { Empty, ErrorNote, Notice } from '../components/Feedback.tsx';
import { CheckField, fieldErrors, SelectField, TextField } from '../components/Form.tsx';
import { countryNames } from '../countries.ts';
import { Page, Section } from '../components/Page.tsx';
import { duration } from '../format.ts';
import { useFormat, useSession, useSettings } from '../session.tsx';
import { useApi } from '../useApi.ts';
import { EncryptedSipSection } from './EncryptedSipSection.tsx';

/** Saving part of the settings: the page's copy is replaced by what the server answers. */
function useSettingsSave() {
  const { setSettings } = useSession();
  const [error, setError] = useState<unknown>();
  const [saved, setSaved] = useState(false);
  const save = async (changes: Partial<Pick<Settings, 'timeZone' | 'country' | 'internationalCalls'>>) => {
    setError(undefined);
    setSaved(false);
    try {
      setSettings(await api.patch<Settings>('/settings', changes));
      setSaved(true);
    } catch (err) {
      setError(err);
    }
  };
  return { error, saved, save };
}

function TimeZoneForm() {
  const settings = useSettings();
  const zones = useMemo(() => {
    const all = Intl.supportedValuesOf('timeZone');
    return all.includes('UTC') ? all : ['UTC', ...all];
  }, []);
  const [zone, setZone] = useState(settings.timeZone);
  const { error, saved, save } = useSettingsSave();

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void save({ timeZone: zone });
  };
  const errs = fieldErrors(error, ['timeZone']);
  return (
    <Section title="Time zone">
      <form onSubmit={submit} className="inline-form">
        <SelectField
          label="Time zone"
          value={zone}
          onChange={(e) => setZone(e.target.value)}
          error={errs.forField('timeZone')}
          hint="The portal shows times in it, and a dialplan's now() tells time in it."
        >
          {zones.map((z) => (
            <option key={z}>{z}</option>
          ))}
        </SelectField>
        <button type="submit" className="btn primary">
          Save
        </button>
      </form>
      <ErrorNote error={errs.general} />
      {saved && <Notice tone="success">Time zone saved.</Notice>}
    </Section>
  );
}

function InternationalCallsForm() {
  const settings = useSettings();
  const countries = useMemo(() => countryNames(), []);
  const [country, setCountry] = useState(settings.country ?? '');
  const [international, setInternational] = useState(settings.internationalCalls);
  const { error, saved, save } = useSettingsSave();

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void save({ country: country || null, internationalCalls: international });
  };
  const errs = fieldErrors(error, ['country', 'internationalCalls']);
  return (
    <Section title="Calls abroad">
      <form onSubmit={submit} className="form-grid" aria-label="Calls abroad">
        <SelectField
          label="Home country"
          value={country}
          onChange={(e) => setCountry(e.target.value)}
          error={errs.forField('country')}
          hint="Numbers your dialplan sends to a provider are read as dialled from here: 030… is a national number, 00… or +… may be abroad."
        >
          <option value="">Not set (every number starting with +, 00 or 011 counts as abroad)</option>
          {countries.map((c) => (
            <option key={c.code} value={c.code}>
              {c.name}
            </option>
          ))}
        </SelectField>
        <CheckField
          label="Allow calls to other countries through my providers"
          checked={international}
          onChange={(e) => setInternational(e.target.checked)}
          hint="Off, such calls are refused with 403 before they reach a provider: a stolen phone password is most often spent on expensive numbers abroad."
        />
        <div className="form-actions">
          <button type="submit" className="btn primary">
            Save
          </button>
        </div>
      </form>
      <ErrorNote error={errs.general} />
      {saved && <Notice tone="success">Saved.</Notice>}
    </Section>
  );
}

function PasswordForm() {
  const { state } = useSession();
  const email = state.status === 'in' ? (state.me.user?.email ?? '') : '';
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const [mismatch, setMismatch] = useState(false);
  const [error, setError] = useState<unknown>();
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setDone(false);
    setMismatch(next !== confirm);
    if (next !== confirm) return;
    setBusy(true);
    setError(undefined);
    try {
      await api.post('/me/password', { currentPassword: current, newPassword: next });
      setCurrent('');
      setNext('');
      setConfirm('');
      setDone(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const errs = fieldErrors(error, ['currentPassword', 'newPassword']);
  return (
    <Section title="Portal password">
      <form onSubmit={submit} className="form-grid">
        <ErrorNote error={errs.general} />
        {done && <Notice tone="success">Password changed. Your other sessions have been logged out.</Notice>}
        {/* For password managers: which account this password belongs to. */}
        <input type="email" autoComplete="username" value={email} readOnly hidden />
        <TextField
          label="Current password"
          type="password"
          autoComplete="current-password"
          value={current}
          onChange={(e) => setCurrent(e.target.value)}
          error={errs.forField('currentPassword')}
          required
        />
        <TextField
          label="New password"
          type="password"
          autoComplete="new-password"
          value={next}
          onChange={(e) => setNext(e.target.value)}
          error={errs.forField('newPassword')}
          hint="At least 10 characters and hard to guess."
          required
        />
        <TextField
          label="Repeat the new password"
          type="password"
          autoComplete="new-password"
          value={confirm}
          onChange={(e) => setConfirm(e.target.value)}
          error={mismatch ? 'The two passwords differ.' : undefined}
          required
        />
        <div className="form-actions">
          <button type="submit" className="btn primary" disabled={busy}>
            {busy ? 'Changing…' : 'Change password'}
          </button>
        </div>
      </form>
    </Section>
  );
}

/** A key set to expire on a day works until that day ends, in the browser's time zone; '' is never. */
function endOfDay(date: string): string | null {
  return date ? new Date(`${date}T23:59:59.999`).toISOString() : null;
}

function ApiKeys() {
  const fmt = useFormat();
  const keys = useApi<{ items: ApiKey[] }>('/api-keys');
  const [name, setName] = useState('');
  const [scope, setScope] = useState<ApiKey['scope']>('full');
  const [expiresOn, setExpiresOn] = useState('');
  const [created, setCreated] = useState<{ name: string; key: string }>();
  const [error, setError] = useState<unknown>();

  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    try {
      const k = await api.post<ApiKey & { key: string }>('/api-keys', { name, scope, expiresAt: endOfDay(expiresOn) });
      setCreated({ name: k.name, key: k.key });
      setName('');
      setExpiresOn('');
      await keys.reload();
    } catch (err) {
      setError(err);
    }
  };
  const remove = async (k: ApiKey) => {
    if (!window.confirm(`Delete the API key ${k.name}? Tools using it stop working.`)) return;
    setError(undefined);
    try {
      await api.delete(`/api-keys/${k.id}`);
      await keys.reload();
    } catch (err) {
      setError(err);
    }
  };
  const errs = fieldErrors(error, ['name', 'scope', 'expiresAt']);
  return (
    <Section title="API keys">
      <p className="hint">
        Scripts call the same API with <code>Authorization: Bearer &lt;key&gt;</code>.
      </p>
      {created && (
        <div className="note success secret" role="status">
          <p>
            <strong>The key {created.name} — shown only this once.</strong>
          </p>
          <p className="secret-value">
            <code>{created.key}</code> <CopyButton text={created.key} label="Copy key" />
          </p>
          <button type="button" className="btn small" onClick={() => setCreated(undefined)}>
            I have saved it
          </button>
        </div>
      )}
      <ErrorNote error={keys.error ?? errs.general} />
      {keys.data?.items.length === 0 ? (
        <Empty>No API keys.</Empty>
      ) : (
        <ul className="plain-list keys">
          {keys.data?.items.map((k) => (
            <li key={k.id} data-testid="api-key">
              <strong>{k.name}</strong> <span className="mono muted">{k.prefix}…</span>{' '}
              <Badge tone={k.scope === 'read-only' ? 'neutral' : 'warn'}>{k.scope === 'read-only' ? 'Read-only' : 'Full access'}</Badge>{' '}
              {k.expiresAt && Date.parse(k.expiresAt) <= Date.now() && <Badge tone="bad">Expired</Badge>}
              <span className="muted small">
                {' '}
                created {fmt.dateTime(k.createdAt)} ·{' '}
                {k.expiresAt ? `${Date.parse(k.expiresAt) <= Date.now() ? 'expired' : 'expires'} ${fmt.dateTime(k.expiresAt)}` : 'never expires'} ·{' '}
                {k.lastUsedAt ? `last used ${fmt.dateTime(k.lastUsedAt)}` : 'never used'}
              </span>{' '}
              <button type="button" className="btn small ghost" onClick={() => void remove(k)}>
                Delete
              </button>
            </li>
          ))}
        </ul>
      )}
      <form onSubmit={create} className="inline-form" aria-label="New API key">
        <TextField label="New key's name" value={name} onChange={(e) => setName(e.target.value)} error={errs.forField('name')} placeholder="billing export" />
        <SelectField label="Access" value={scope} onChange={(e) => setScope(e.target.value as ApiKey['scope'])} error={errs.forField('scope')}>
          <option value="full">Full access</option>
          <option value="read-only">Read-only (GET only)</option>
        </SelectField>
        <TextField
          label="Expires on (optional)"
          type="date"
          value={expiresOn}
          onChange={(e) => setExpiresOn(e.target.value)}
          error={errs.forField('expiresAt')}
          hint="Empty: the key works until you delete it."
        />
        <button type="submit" className="btn">
          Create key
        </button>
      </form>
    </Section>
  );
}

const bytes = (n: number) => (n >= 1024 * 1024 ? `${n / (1024 * 1024)} MiB` : `${n / 1024} KiB`);

function LimitsInForce() {
  const { limits, sip } = useSettings();
  const rows: Array<[string, string]> = [
    ['Calls at once', `${limits.callsAtOnce} placed, ${limits.callsAtOnce} received`],
    ['Calls your phones place per minute', String(limits.callsPerMinute)],
    ['Longest call', duration(limits.callMaxSeconds * 1000)],
    ['Dialplan runs at once', String(limits.dialplan.concurrentExecutions)],
    ['Dialplan CPU at a stretch', `${limits.dialplan.cpuMsPerSlice} ms`],
    ['Dialplan time before its first dial', `${limits.dialplan.secondsBeforeFirstDial} s`],
    ['Dialplan time in all', duration(limits.dialplan.maxSeconds * 1000)],
    ['Dialplan memory', `${limits.dialplan.heapMb} MB`],
    ['Legs a dialplan may dial', String(limits.dialplan.legsPerExecution)],
    ['Registration interval', `${limits.registration.minExpiresSeconds}–${limits.registration.maxExpiresSeconds} s`],
    ['Devices per phone', String(limits.registration.contactsPerAccount)],
    ['Call records kept', `${limits.cdrRetentionDays} days`],
    ['Dialplan store', `${limits.store.keys.toLocaleString()} keys, ${bytes(limits.store.valueBytes)} a value, ${bytes(limits.store.totalBytes)} in all`],
    ['Live views open at once', String(limits.eventStreams)],
    ['SIP domain', [sip.domain, ...sip.domainAliases].join(', ')],
    ['SIP proxy', `${sip.proxy.host}:${sip.proxy.port} (${sip.transports.map((t) => t.toUpperCase()).join(', ')})`],
    ['Digest algorithms offered', sip.digestAlgorithms.join(', ')],
  ];
  return (
    <Section title="Limits in force">
      <dl className="facts" data-testid="limits">
        {rows.map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
      </dl>
    </Section>
  );
}

export function SettingsPage() {
  return (
    <Page title="Settings">
      <div className="grid two">
        <div className="stack">
          <TimeZoneForm />
          <InternationalCallsForm />
          <PasswordForm />
          <ApiKeys />
        </div>
        <div className="stack">
          <LimitsInForce />
          <EncryptedSipSection />
        </div>
      </div>
    </Page>
  );
}
