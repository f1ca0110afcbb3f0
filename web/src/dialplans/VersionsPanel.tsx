/** A dialplan's saved versions: compare one with the current version side by side, or make it current again (as a new version). */
import { useState } from 'react';
import { api } from '../api/client.ts';
import type { Dialplan } from '../api/types.ts';
import { ErrorNote } from '../components/Feedback.tsx';
import { useFormat } from '../session.tsx';
import { VersionDiff } from './VersionDiff.tsx';

export function VersionsPanel({ dialplan, dirty, onRestored }: { dialplan: Dialplan; dirty: boolean; onRestored: (version: number, from: number) => void }) {
  const fmt = useFormat();
  const [shown, setShown] = useState<{ version: number; source: string }>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const versions = [...dialplan.versions].sort((a, b) => b.version - a.version);

  const show = async (version: number) => {
    if (shown?.version === version) return setShown(undefined);
    setError(undefined);
    try {
      const v = await api.get<{ source: string }>(`/dialplans/${encodeURIComponent(dialplan.name)}/versions/${version}`);
      setShown({ version, source: v.source });
    } catch (err) {
      setError(err);
    }
  };
  const restore = async (version: number) => {
    if (dirty && !window.confirm('The editor has unsaved changes. Restore anyway and lose them?')) return;
    setBusy(true);
    setError(undefined);
    try {
      const r = await api.post<{ version: number; restoredFrom: number }>(`/dialplans/${encodeURIComponent(dialplan.name)}/restore`, { version });
      setShown(undefined);
      onRestored(r.version, r.restoredFrom);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="versions">
      <ErrorNote error={error} />
      <ul>
        {versions.map((v) => (
          <li key={v.version}>
            <div className="version-row">
              <span>
                <strong>Version {v.version}</strong>
                {v.version === dialplan.version && <span className="tag">current</span>}
                <span className="muted"> {fmt.dateTime(v.createdAt)}</span>
              </span>
              <span className="row-actions">
                <button type="button" className="btn small ghost" onClick={() => void show(v.version)} aria-expanded={shown?.version === v.version}>
                  {shown?.version === v.version ? 'Hide' : v.version === dialplan.version ? 'Show' : 'Compare'}
                </button>
                {v.version !== dialplan.version && (
                  <button type="button" className="btn small" onClick={() => void restore(v.version)} disabled={busy}>
                    Restore
                  </button>
                )}
              </span>
            </div>
            {shown?.version === v.version &&
              (v.version === dialplan.version ? (
                <pre className="code-preview">{shown.source}</pre>
              ) : (
                <VersionDiff old={shown.source} current={dialplan.source} labels={[`Version ${v.version}`, `Version ${dialplan.version} (current)`]} />
              ))}
          </li>
        ))}
      </ul>
    </div>
  );
}
