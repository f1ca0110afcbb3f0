/** "Test now": the switch sends the provider an OPTIONS at once and shows what came back, as a ladder. */
import { useState } from 'react';
import type { TracedMessage } from '../../../contract/callTrace.ts';
import { api } from '../api/client.ts';
import type { ProviderHealth } from '../api/types.ts';
import { Ladder } from '../calls/Ladder.tsx';
import { ErrorNote, Notice } from '../components/Feedback.tsx';
import { useSettings } from '../session.tsx';

interface TestResult {
  health: ProviderHealth;
  messages: TracedMessage[];
}

export function TestNow({ providerId, onTested }: { providerId: string; onTested: () => void }) {
  const { sip } = useSettings();
  const [result, setResult] = useState<TestResult>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const test = async () => {
    setBusy(true);
    setError(undefined);
    try {
      setResult(await api.post<TestResult>(`/providers/${encodeURIComponent(providerId)}/test`, {}));
      onTested();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
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
          <Ladder
            story={{
              callId: '',
              local: { address: sip.proxy.host, port: sip.proxy.port },
              dropped: 0,
              entries: result.messages.map((message) => ({ kind: 'sip', at: message.at, message })),
            }}
          />
        </div>
      )}
    </div>
  );
}
