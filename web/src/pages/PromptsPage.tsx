/**
 * The tenant's prompts, the audio a dialplan plays by name (`play('welcome')`): uploaded as WAV or
 * MP3 and converted by the switch (a file it cannot use is refused with the reason), listed with
 * a player, deleted. Below them the built-in tones, which need no upload.
 */
import { useState, type FormEvent } from 'react';
import { PROMPT_NAME } from '../../../contract/audio.ts';
import { api, API_BASE } from '../api/client.ts';
import type { Prompt, Tone } from '../api/types.ts';
import { Empty, ErrorNote, Loading, Notice } from '../components/Feedback.tsx';
import { TextField } from '../components/Form.tsx';
import { Page, Section } from '../components/Page.tsx';
import { TableWrap } from '../components/TableWrap.tsx';
import { duration } from '../format.ts';
import { useFormat } from '../session.tsx';
import { useApi } from '../useApi.ts';

/** `1.2 MB`, `16 KB`. */
export function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** A prompt name from a file's name: `Welcome message.wav` → `Welcome-message`. */
export function nameFromFile(file: string): string {
  return file
    .replace(/\.[^.]*$/, '')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64);
}

/** A prompt's length to the tenth of a second: `1.5 s`, `850 ms`, `2 min 05 s`. */
export function length(ms: number): string {
  return ms < 1000 || ms >= 60_000 ? duration(ms) : `${(ms / 1000).toFixed(1)} s`;
}

const audioUrl = (kind: 'prompts' | 'tones', name: string) => `${API_BASE}/${kind}/${encodeURIComponent(name)}/audio`;

function Upload({ existing, onUploaded }: { existing: string[]; onUploaded: (p: Prompt, replaced: boolean) => Promise<void> }) {
  const [file, setFile] = useState<File>();
  const [name, setName] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [inputKey, setInputKey] = useState(0);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    if (!file) return setError(new Error('Choose a WAV or MP3 file first.'));
    if (!PROMPT_NAME.test(name)) return setError(new Error('A prompt name is 1–64 letters, digits, dots, dashes or underscores, starting with a letter or digit.'));
    const replacing = existing.includes(name);
    if (replacing && !window.confirm(`Replace the prompt ${name} with ${file.name}?`)) return;
    setBusy(true);
    try {
      const p = await api.putFile<Prompt>(`/prompts/${encodeURIComponent(name)}`, file);
      setFile(undefined);
      setName('');
      setInputKey((k) => k + 1);
      await onUploaded(p, replacing);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={(e) => void submit(e)} className="stack" aria-label="Upload a prompt">
      <div className="form-grid cols">
        <div className="field">
          <label htmlFor="prompt-file">Audio file (WAV or MP3)</label>
          <input
            key={inputKey}
            id="prompt-file"
            type="file"
            accept=".wav,.mp3,audio/wav,audio/x-wav,audio/mpeg"
            aria-describedby="prompt-file-hint"
            onChange={(e) => {
              const f = e.target.files?.[0];
              setFile(f);
              if (f && !name) setName(nameFromFile(f.name));
            }}
          />
          <p className="hint" id="prompt-file-hint">
            Up to 5 minutes. The switch converts it to 8 kHz mono, what phones play.
          </p>
        </div>
        <TextField
          label="Name"
          name="prompt-name"
          value={name}
          onChange={(e) => setName(e.target.value)}
          hint="What the dialplan plays: play('name')."
          spellCheck={false}
          autoComplete="off"
        />
      </div>
      <ErrorNote error={error} title="Not uploaded." />
      <div className="form-actions">
        <button type="submit" className="btn primary" disabled={busy}>
          {busy ? 'Uploading…' : 'Upload'}
        </button>
      </div>
    </form>
  );
}

export function PromptsPage() {
  const fmt = useFormat();
  const prompts = useApi<{ items: Prompt[] }>('/prompts');
  const tones = useApi<{ items: Tone[] }>('/tones');
  const [done, setDone] = useState<string>();
  const [error, setError] = useState<unknown>();

  const remove = async (p: Prompt) => {
    if (!window.confirm(`Delete the prompt ${p.name}? Dialplans that play it will fail at that play().`)) return;
    setError(undefined);
    setDone(undefined);
    try {
      await api.delete(`/prompts/${encodeURIComponent(p.name)}`);
      setDone(`Deleted ${p.name}.`);
      await prompts.reload();
    } catch (err) {
      setError(err);
    }
  };

  const items = prompts.data?.items ?? [];
  return (
    <Page title="Prompts" subtitle="Audio your dialplans play by name, and the built-in tones.">
      <Section title="Upload a prompt">
        <Upload
          existing={items.map((p) => p.name)}
          onUploaded={async (p, replaced) => {
            setDone(`${replaced ? 'Replaced' : 'Uploaded'} ${p.name} (${length(p.durationMs)}).`);
            await prompts.reload();
          }}
        />
      </Section>
      <Section title={`Your prompts${prompts.data ? ` (${items.length})` : ''}`}>
        {done && <Notice tone="success">{done}</Notice>}
        <ErrorNote error={prompts.error ?? error} />
        {!prompts.data && prompts.loading && <Loading what="the prompts" />}
        {prompts.data && items.length === 0 && <Empty>No prompts yet. Upload a WAV or MP3 above.</Empty>}
        {items.length > 0 && (
          <TableWrap label="Prompts">
            <table data-testid="prompts">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Duration</th>
                  <th scope="col">Size</th>
                  <th scope="col">Updated</th>
                  <th scope="col">Listen</th>
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {items.map((p) => (
                  <tr key={p.name} data-testid="prompt" data-name={p.name}>
                    <td className="mono">{p.name}</td>
                    <td>{length(p.durationMs)}</td>
                    <td>{size(p.bytes)}</td>
                    <td>{fmt.dateTime(p.updatedAt)}</td>
                    <td>
                      {/* The updated time in the key: a replaced prompt gets a fresh player. */}
                      <audio key={p.updatedAt} src={audioUrl('prompts', p.name)} controls preload="none" aria-label={`Play the prompt ${p.name}`} />
                    </td>
                    <td>
                      <button type="button" className="btn small danger" onClick={() => void remove(p)} aria-label={`Delete the prompt ${p.name}`}>
                        Delete
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        )}
      </Section>
      <Section title="Built-in tones">
        <p className="hint">
          Always there, in every tenant: <code>play('busy')</code>. A dialplan repeats them; one cycle is shown.
        </p>
        <ErrorNote error={tones.error} />
        {tones.data && (
          <TableWrap label="Built-in tones">
            <table data-testid="tones">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">What it is</th>
                  <th scope="col">One cycle</th>
                  <th scope="col">Listen</th>
                </tr>
              </thead>
              <tbody>
                {tones.data.items.map((t) => (
                  <tr key={t.name} data-testid="tone">
                    <td className="mono">{t.name}</td>
                    <td>{t.description}</td>
                    <td>{duration(t.durationMs)}</td>
                    <td>
                      <audio src={audioUrl('tones', t.name)} controls preload="none" aria-label={`Play the tone ${t.name}`} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        )}
      </Section>
    </Page>
  );
}
