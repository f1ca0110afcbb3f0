/** The tenant's dialplans, and which one runs for what. */
import { useState, type FormEvent } from 'react';
import type { DialplanList } from '../api/types.ts';
import { Empty, ErrorNote, Loading, Notice } from '../components/Feedback.tsx';
import { TextField } from '../components/Form.tsx';
import { Page, Section } from '../components/Page.tsx';
import { QuarantineNote } from '../dialplans/QuarantineNote.tsx';
import { Link, navigate } from '../router.tsx';
import { useFormat } from '../session.tsx';
import { useApi } from '../useApi.ts';
import { TableWrap } from '../components/TableWrap.tsx';

const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export function DialplansPage() {
  const fmt = useFormat();
  const list = useApi<DialplanList>('/dialplans');
  const [name, setName] = useState('');
  const [nameError, setNameError] = useState<string>();
  const hasDefault = list.data?.items.some((d) => d.name === 'default');

  const create = (e: FormEvent) => {
    e.preventDefault();
    const n = name.trim();
    if (!NAME.test(n)) return setNameError('1–64 characters: lower-case letters, digits, “_” or “-”, starting with a letter or digit.');
    if (list.data?.items.some((d) => d.name === n)) return setNameError(`There is a dialplan named ${n} already.`);
    navigate(`/dialplans/${n}`);
  };

  return (
    <Page title="Dialplans" subtitle="JavaScript that decides what happens to each call, run in a sandbox on the switch.">
      <ErrorNote error={list.error} />
      <QuarantineNote quarantine={list.data?.quarantine} />
      {list.data && !hasDefault && (
        <Notice tone="info">
          There is no <strong>default</strong> dialplan yet: without one, a phone that dials another phone’s extension or username rings it directly, as the commented starter in
          the editor does. <Link to="/dialplans/default">Write the default dialplan</Link>.
        </Notice>
      )}
      {list.loading && !list.data ? (
        <Loading what="dialplans" />
      ) : list.data?.items.length === 0 ? (
        <Empty>No dialplans yet.</Empty>
      ) : (
        list.data && (
          <TableWrap card label="Dialplans">
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Version</th>
                  <th scope="col">Saved</th>
                </tr>
              </thead>
              <tbody>
                {list.data.items.map((d) => (
                  <tr key={d.name}>
                    <td>
                      <Link to={`/dialplans/${d.name}`} className="strong">
                        {d.name}
                      </Link>
                    </td>
                    <td>{d.version}</td>
                    <td>{fmt.dateTime(d.updatedAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        )
      )}
      <Section title="New dialplan">
        <form onSubmit={create} className="inline-form">
          <TextField label="Name" value={name} onChange={(e) => (setName(e.target.value), setNameError(undefined))} error={nameError} placeholder="default" spellCheck={false} />
          <button type="submit" className="btn primary">
            Open editor
          </button>
        </form>
        <p className="hint">
          <strong>default</strong> runs for calls your phones place; a phone can name another for the calls it places or receives, and a provider for its incoming calls.
        </p>
      </Section>
    </Page>
  );
}
