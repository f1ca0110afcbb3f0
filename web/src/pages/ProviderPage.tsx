/**
 * Adding or editing a provider. The password is write-only: the API never returns it, so the form
 * says whether one is set and sends a password only when a new one is typed.
 */
import { useState, type FormEvent } from 'react';
import { api } from '../api/client.ts';
import type { DialplanList, Provider, ProviderSettings } from '../api/types.ts';
import { Badge } from '../components/Badge.tsx';
import { ErrorNote, Loading, Notice } from '../components/Feedback.tsx';
import { CheckField, fieldErrors, SelectField, TextField } from '../components/Form.tsx';
import { Page, Section } from '../components/Page.tsx';
import { describeHealth, describeProviderStatus, providerTone, STATE_LABEL } from '../providers/statusWords.ts';
import { Link, navigate } from '../router.tsx';
import { useFormat } from '../session.tsx';
import { useApi } from '../useApi.ts';
import { providersMissing, ProvidersUnavailable } from './ProvidersPage.tsx';
import { useProviderApi } from '../providers/useProviderApi.ts';
import { DefaultDialplanOptions } from '../dialplans/DefaultDialplanOptions.tsx';
import { TestNow } from '../providers/TestNow.tsx';

/** The form's text state: every field as typed. */
interface Draft {
  name: string;
  host: string;
  port: string;
  transport: 'udp' | 'tcp';
  outboundProxy: string;
  username: string;
  authUsername: string;
  password: string;
  realm: string;
  fromUser: string;
  fromHost: string;
  fromDisplay: string;
  headers: string;
  register: boolean;
  registerExpires: string;
  contactUser: string;
  dialplan: string;
  sourceAddresses: string;
  numbers: string;
  enabled: boolean;
}

const EMPTY: Draft = {
  name: '',
  host: '',
  port: '',
  transport: 'udp',
  outboundProxy: '',
  username: '',
  authUsername: '',
  password: '',
  realm: '',
  fromUser: '',
  fromHost: '',
  fromDisplay: '',
  headers: '',
  register: true,
  registerExpires: '600',
  contactUser: '',
  dialplan: '',
  sourceAddresses: '',
  numbers: '',
  enabled: true,
};

const draftOf = (p: Provider): Draft => ({
  name: p.name,
  host: p.host,
  port: p.port === null ? '' : String(p.port),
  transport: p.transport,
  outboundProxy: p.outboundProxy ?? '',
  username: p.username ?? '',
  authUsername: p.authUsername ?? '',
  password: '',
  realm: p.realm ?? '',
  fromUser: p.fromUser ?? '',
  fromHost: p.fromHost ?? '',
  fromDisplay: p.fromDisplay ?? '',
  headers: Object.entries(p.headers)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n'),
  register: p.register,
  registerExpires: String(p.registerExpires),
  contactUser: p.contactUser ?? '',
  dialplan: p.dialplan ?? '',
  sourceAddresses: p.sourceAddresses.join('\n'),
  numbers: p.numbers.join('\n'),
  enabled: p.enabled,
});

class FormProblem extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

const orNull = (s: string) => (s.trim() ? s.trim() : null);

/** The request body; what cannot be sent as typed is a FormProblem naming the field. */
function bodyOf(d: Draft): ProviderSettings & { password?: string } {
  const headers: Record<string, string> = {};
  for (const line of d.headers
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)) {
    const i = line.indexOf(':');
    if (i < 1) throw new FormProblem('headers', `“${line}” is not “Name: value”.`);
    headers[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  const port = d.port.trim() ? Number(d.port) : null;
  if (port !== null && !(Number.isInteger(port) && port > 0 && port < 65536)) throw new FormProblem('port', 'A port is a whole number from 1 to 65535, or empty for the default.');
  const registerExpires = Number(d.registerExpires);
  if (!Number.isInteger(registerExpires) || registerExpires <= 0) throw new FormProblem('registerExpires', 'Seconds, a whole number.');
  return {
    name: d.name.trim(),
    host: d.host.trim(),
    port,
    transport: d.transport,
    outboundProxy: orNull(d.outboundProxy),
    username: orNull(d.username),
    authUsername: orNull(d.authUsername),
    realm: orNull(d.realm),
    fromUser: orNull(d.fromUser),
    fromHost: orNull(d.fromHost),
    fromDisplay: orNull(d.fromDisplay),
    headers,
    register: d.register,
    registerExpires,
    contactUser: orNull(d.contactUser),
    dialplan: orNull(d.dialplan),
    sourceAddresses: d.sourceAddresses.split(/[\s,]+/).filter(Boolean),
    numbers: d.numbers
      .split(/[\n,;]+/)
      .map((n) => n.trim())
      .filter(Boolean),
    enabled: d.enabled,
    ...(d.password ? { password: d.password } : {}),
  };
}

const FIELDS = Object.keys(EMPTY);

function ProviderForm({ provider, onSaved }: { provider?: Provider; onSaved: (p: Provider) => void }) {
  const dialplans = useApi<DialplanList>('/dialplans');
  const [d, setD] = useState<Draft>(() => (provider ? draftOf(provider) : EMPTY));
  const [error, setError] = useState<unknown>();
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const set =
    <K extends keyof Draft>(k: K) =>
    (v: Draft[K]) =>
      setD((x) => ({ ...x, [k]: v }));
  const text = (k: keyof Draft) => ({ value: d[k] as string, onChange: (e: { target: { value: string } }) => set(k)(e.target.value as never) });

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setSaved(false);
    let body;
    try {
      body = bodyOf(d);
    } catch (err) {
      setError(err);
      return;
    }
    setBusy(true);
    try {
      const saved = provider ? await api.patch<Provider>(`/providers/${provider.id}`, body) : await api.post<Provider>('/providers', body);
      setD((x) => ({ ...x, password: '' }));
      setSaved(true);
      onSaved(saved);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const problem = error instanceof FormProblem ? error : undefined;
  const errs = fieldErrors(problem ? undefined : error, FIELDS);
  const err = (f: string) => (problem?.field === f ? problem.message : errs.forField(f));
  return (
    <form onSubmit={submit} className="provider-form">
      <ErrorNote error={errs.general} />
      {problem && !FIELDS.includes(problem.field) && <ErrorNote error={problem} />}
      <Section title="Provider">
        <div className="form-grid cols">
          <TextField label="Name" {...text('name')} error={err('name')} hint="Dialplans dial numbers at it as 0123@name." required />
          <TextField label="Server (host name or address)" {...text('host')} error={err('host')} placeholder="sip.example.net" required spellCheck={false} />
          <TextField label="Port" {...text('port')} error={err('port')} inputMode="numeric" placeholder="5060, or found by DNS" />
          <SelectField label="Transport" value={d.transport} onChange={(e) => set('transport')(e.target.value as 'udp' | 'tcp')} error={err('transport')}>
            <option value="udp">UDP</option>
            <option value="tcp">TCP</option>
          </SelectField>
          <TextField label="Outbound proxy (optional)" {...text('outboundProxy')} error={err('outboundProxy')} placeholder="proxy.example.net:5060" spellCheck={false} />
          <CheckField label="Enabled" checked={d.enabled} onChange={(e) => set('enabled')(e.target.checked)} />
        </div>
      </Section>
      <Section title="Account">
        <div className="form-grid cols">
          <TextField label="Username" {...text('username')} error={err('username')} autoComplete="off" spellCheck={false} />
          <TextField label="Authentication user (if different)" {...text('authUsername')} error={err('authUsername')} autoComplete="off" spellCheck={false} />
          <TextField
            label="Password"
            type="password"
            {...text('password')}
            error={err('password')}
            autoComplete="new-password"
            placeholder={provider?.hasPassword ? 'Set — type to replace it' : 'Not set'}
            hint={provider?.hasPassword ? 'A password is stored. It is never shown again; leave this empty to keep it.' : 'Stored encrypted and never shown again.'}
          />
          <TextField label="Realm (optional)" {...text('realm')} error={err('realm')} spellCheck={false} />
        </div>
      </Section>
      <Section title="Registration">
        <div className="form-grid cols">
          <CheckField
            label="Register with the provider"
            checked={d.register}
            onChange={(e) => set('register')(e.target.checked)}
            hint="Needed when the provider sends your incoming calls to a registered address."
          />
          <TextField label="Registration interval (seconds)" {...text('registerExpires')} error={err('registerExpires')} inputMode="numeric" />
          <TextField label="Contact user (optional)" {...text('contactUser')} error={err('contactUser')} spellCheck={false} />
        </div>
      </Section>
      <Section title="Calls">
        <div className="form-grid cols">
          <SelectField label="Dialplan for incoming calls" value={d.dialplan} onChange={(e) => set('dialplan')(e.target.value)} error={err('dialplan')}>
            <DefaultDialplanOptions dialplans={dialplans.data?.items} />
          </SelectField>
          <TextField label="From user (optional)" {...text('fromUser')} error={err('fromUser')} spellCheck={false} />
          <TextField label="From host (optional)" {...text('fromHost')} error={err('fromHost')} spellCheck={false} />
          <TextField label="From display name (optional)" {...text('fromDisplay')} error={err('fromDisplay')} />
          <div className="field">
            <label htmlFor="provider-headers">Extra headers (one “Name: value” a line)</label>
            <textarea
              id="provider-headers"
              rows={3}
              value={d.headers}
              onChange={(e) => set('headers')(e.target.value)}
              aria-invalid={err('headers') ? true : undefined}
              spellCheck={false}
            />
            {err('headers') && (
              <p className="field-error" role="alert">
                {err('headers')}
              </p>
            )}
          </div>
          <div className="field">
            <label htmlFor="provider-sources">Addresses calls from this provider come from</label>
            <textarea
              id="provider-sources"
              rows={3}
              value={d.sourceAddresses}
              onChange={(e) => set('sourceAddresses')(e.target.value)}
              aria-invalid={err('sourceAddresses') ? true : undefined}
              spellCheck={false}
            />
            {err('sourceAddresses') ? (
              <p className="field-error" role="alert">
                {err('sourceAddresses')}
              </p>
            ) : (
              <p className="hint">
                IP addresses or CIDR blocks (at most a /16), one a line: they confirm that a call for one of your numbers below really comes from this provider.
              </p>
            )}
          </div>
          <div className="field">
            <label htmlFor="provider-numbers">Your numbers at this provider</label>
            <textarea
              id="provider-numbers"
              rows={3}
              value={d.numbers}
              onChange={(e) => set('numbers')(e.target.value)}
              aria-invalid={err('numbers') ? true : undefined}
              spellCheck={false}
            />
            {err('numbers') ? (
              <p className="field-error" role="alert">
                {err('numbers')}
              </p>
            ) : (
              <p className="hint">
                Phone numbers (+4930123456), one a line: calls for them from the addresses above are yours. A number can be held by one provider entry on the switch only.
              </p>
            )}
          </div>
        </div>
      </Section>
      {saved && <Notice tone="success">Saved.</Notice>}
      <div className="form-actions">
        <button type="submit" className="btn primary" disabled={busy}>
          {busy ? 'Saving…' : provider ? 'Save provider' : 'Add provider'}
        </button>
        <Link to="/providers" className="btn">
          Back to providers
        </Link>
      </div>
    </form>
  );
}

export function ProviderPage({ id }: { id?: string }) {
  const fmt = useFormat();
  const loaded = useProviderApi<Provider>(id ? `/providers/${encodeURIComponent(id)}` : null);
  const [deleteError, setDeleteError] = useState<unknown>();
  const p = loaded.data;

  if (!id) {
    return (
      <Page title="Add provider">
        <ProviderForm onSaved={(created) => navigate(`/providers/${created.id}`, { replace: true })} />
      </Page>
    );
  }
  if (loaded.error && !p) {
    return <Page title="Provider">{providersMissing(loaded.error) ? <ProvidersUnavailable /> : <ErrorNote error={loaded.error} />}</Page>;
  }
  if (!p) return <Loading what="the provider" />;

  const remove = async () => {
    if (!window.confirm(`Delete the provider ${p.name}? Dialplans that dial numbers at it will fail.`)) return;
    try {
      await api.delete(`/providers/${p.id}`);
      navigate('/providers');
    } catch (err) {
      setDeleteError(err);
    }
  };

  return (
    <Page
      title={p.name}
      subtitle={<Link to="/providers">All providers</Link>}
      actions={
        <button type="button" className="btn danger" onClick={() => void remove()}>
          Delete
        </button>
      }
    >
      <ErrorNote error={deleteError} />
      <Section title="Registration state" actions={<Badge tone={providerTone(p.status)}>{STATE_LABEL[p.status.state]}</Badge>}>
        <p aria-live="polite">{describeProviderStatus(p, fmt.dateTime)}</p>
        <p>Answers OPTIONS pings: {describeHealth(p.health)}</p>
        <TestNow providerId={p.id} onTested={() => void loaded.reload()} />
        <p className="muted">
          Calls from the provider reach the switch at <span className="mono">{p.contactUri}</span>
          {p.register ? ', the address it registers.' : '; give the provider this address.'}
        </p>
      </Section>
      {/* Keyed by id: a reloaded status must not reset what is being typed. */}
      <ProviderForm key={p.id} provider={p} onSaved={() => void loaded.reload()} />
    </Page>
  );
}
