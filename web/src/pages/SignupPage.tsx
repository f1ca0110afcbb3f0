import { useMemo, useState, type FormEvent } from 'react';
import { api, ApiError } from '../api/client.ts';
import { ErrorNote } from '../components/Feedback.tsx';
import { fieldErrors, SelectField, TextField } from '../components/Form.tsx';
import { Link, navigate } from '../router.tsx';
import { useSession } from '../session.tsx';
import { browserCountry, countryNames } from '../countries.ts';
import { AuthFrame } from './AuthForm.tsx';

const MIN_PASSWORD = 10;

export function SignupPage() {
  const { refresh } = useSession();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  // The browser's guess, preselected; the list holds only codes the switch accepts.
  const [country, setCountry] = useState(() => browserCountry() ?? '');
  const countries = useMemo(() => countryNames(), []);
  const [error, setError] = useState<unknown>();
  const [local, setLocal] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const m: Record<string, string> = {};
    if (!/^\S+@\S+\.\S+$/.test(email.trim())) m.email = 'Enter an email address, like you@example.com.';
    if (password.length < MIN_PASSWORD) m.password = `Use at least ${MIN_PASSWORD} characters; a few unrelated words work well.`;
    else if (confirm !== password) m.confirm = 'The two passwords differ.';
    setLocal(m);
    if (Object.keys(m).length) return;
    setBusy(true);
    setError(undefined);
    try {
      // The home country reads the numbers sent to providers; it can be changed in Settings.
      await api.post('/auth/signup', { email, password, ...(country ? { country } : {}) });
      await refresh();
      navigate('/', { replace: true });
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  const errs = fieldErrors(error, ['email', 'password', 'country']);
  const taken = error instanceof ApiError && error.status === 409;
  return (
    <AuthFrame
      title="Create your account"
      onSubmit={submit}
      footer={
        <>
          Already have an account? <Link to="/login">Log in</Link>
        </>
      }
    >
      <ErrorNote error={errs.general} />
      <TextField
        label="Email"
        type="email"
        name="email"
        autoComplete="username"
        value={email}
        onChange={(e) => setEmail(e.target.value)}
        error={local.email ?? errs.forField('email')}
        required
      />
      {taken && (
        <p className="hint">
          <Link to="/login">Log in with this email</Link>
        </p>
      )}
      <TextField
        label="Password"
        type="password"
        name="password"
        autoComplete="new-password"
        value={password}
        onChange={(e) => setPassword(e.target.value)}
        error={local.password ?? errs.forField('password')}
        hint={`At least ${MIN_PASSWORD} characters and hard to guess.`}
        required
      />
      <TextField
        label="Repeat the password"
        type="password"
        name="confirm"
        autoComplete="new-password"
        value={confirm}
        onChange={(e) => setConfirm(e.target.value)}
        error={local.confirm}
        required
      />
      <SelectField
        label="Home country"
        name="country"
        value={country}
        onChange={(e) => setCountry(e.target.value)}
        error={errs.forField('country')}
        hint="Numbers you send to a provider are read as dialled from here; calls abroad stay off until you allow them in Settings."
      >
        <option value="">Not set</option>
        {countries.map((c) => (
          <option key={c.code} value={c.code}>
            {c.name}
          </option>
        ))}
      </SelectField>
      <button type="submit" className="btn primary wide" disabled={busy}>
        {busy ? 'Creating your account…' : 'Create account'}
      </button>
    </AuthFrame>
  );
}
