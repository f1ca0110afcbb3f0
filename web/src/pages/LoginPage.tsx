import { useState, type FormEvent } from 'react';
import { api } from '../api/client.ts';
import { ErrorNote, Notice } from '../components/Feedback.tsx';
import { fieldErrors, TextField } from '../components/Form.tsx';
import { Link, navigate, useLocation } from '../router.tsx';
import { useSession } from '../session.tsx';
import { AuthFrame } from './AuthForm.tsx';

/** Where to go after logging in: only a path of this portal, never another site. */
function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
}

export function LoginPage({ expired }: { expired: boolean }) {
  const { search } = useLocation();
  const { refresh } = useSession();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>();
  const [missing, setMissing] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const m: Record<string, string> = {};
    if (!email.trim()) m.email = 'Enter the email you signed up with.';
    if (!password) m.password = 'Enter your password.';
    setMissing(m);
    if (Object.keys(m).length) return;
    setBusy(true);
    setError(undefined);
    try {
      await api.post('/auth/login', { email, password });
      await refresh();
      navigate(safeNext(search.get('next')), { replace: true });
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  const errs = fieldErrors(error, ['email', 'password']);
  return (
    <AuthFrame
      title="Log in"
      onSubmit={submit}
      footer={
        <>
          New here? <Link to="/signup">Create an account</Link>
        </>
      }
    >
      {expired && <Notice tone="warning">Your session has ended. Log in again to continue.</Notice>}
      <ErrorNote error={errs.general} />
      <TextField
        label="Email"
        type="email"
        name="email"
        autoComplete="username"
        value={email}
        onChange={(e) => setEmail(e.target.value)}
        error={missing.email ?? errs.forField('email')}
        required
      />
      <TextField
        label="Password"
        type="password"
        name="password"
        autoComplete="current-password"
        value={password}
        onChange={(e) => setPassword(e.target.value)}
        error={missing.password ?? errs.forField('password')}
        required
      />
      <button type="submit" className="btn primary wide" disabled={busy}>
        {busy ? 'Logging in…' : 'Log in'}
      </button>
    </AuthFrame>
  );
}
