/**
 * "Test now": the switch sends the provider an OPTIONS at once, and a REGISTER when the provider
 * registers, and shows what came back: each outcome in words, and every message as one ladder.
 */
import { useState } from 'react';
import type { ProviderTestView, RegisterTestView } from '../../../contract/providerTest.ts';
import { api } from '../api/client.ts';
import { Ladder } from '../calls/Ladder.tsx';
import { ErrorNote, Notice } from '../components/Feedback.tsx';
import { useSettings } from '../session.tsx';

/** `Registered: 401 Unauthorized, answered with the provider's credentials, then 200 OK; for 3600 s.` */
function describeRegisterTest(r: RegisterTestView): string {
  const [first, ...rest] = r.steps;
  const exchange =
    first === undefined
      ? r.detail
      : [r.authenticated ? `${first}, answered with the provider's credentials` : first, ...rest].map((s, i) => (i === 0 ? s : `then ${s}`)).join(', ');
  if (r.registered) {
    const undone =
      r.removed === null
        ? ''
        : r.removed
          ? ' The provider is disabled: the test registration was removed again.'
          : ' The provider is disabled, and removing the test registration failed.';
    return `Registered: ${exchange}${r.expires !== null ? `; for ${r.expires} s` : ''}.${undone}`;
  }
  return `Not registered: ${exchange}${first !== undefined && r.detail !== r.steps.at(-1) ? ` (${r.detail})` : ''}.`;
}

export function TestNow({ providerId, onTested }: { providerId: string; onTested: () => void }) {
  const { sip } = useSettings();
  const [result, setResult] = useState<ProviderTestView>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const test = async () => {
    setBusy(true);
    setError(undefined);
    try {
      setResult(await api.post<ProviderTestView>(`/providers/${encodeURIComponent(providerId)}/test`, {}));
      onTested();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const messages = result ? [...result.messages, ...(result.register?.messages ?? [])].sort((a, b) => a.at - b.at) : [];
  return (
    <div className="stack" data-testid="provider-test">
      <div>
        <button type="button" className="btn" onClick={() => void test()} disabled={busy}>
          {busy ? 'Testing…' : 'Test now'}
        </button>
      </div>
      <ErrorNote error={error} />
      {result && (
        <div aria-live="polite">
          <Notice tone={result.health.reachable ? 'success' : 'warning'}>
            {result.health.reachable ? `Answered ${result.health.detail} in ${result.health.rttMs} ms.` : `No answer: ${result.health.detail}.`}
          </Notice>
          {result.register && (
            <div data-testid="register-test">
              <Notice tone={result.register.registered ? 'success' : 'warning'}>{describeRegisterTest(result.register)}</Notice>
            </div>
          )}
          <Ladder
            story={{
              callId: '',
              local: { address: sip.proxy.host, port: sip.proxy.port },
              dropped: 0,
              entries: messages.map((message) => ({ kind: 'sip', at: message.at, message })),
            }}
          />
        </div>
      )}
    </div>
  );
}
