/**
 * The switch's blocks of SIP sources (brute-force defence): for a tenant, those that concern its
 * own phones' accounts (/blocks); for an operator, all of them (/operations). Who may lift what is
 * the API's decision (server/api/banRoutes.ts); these pages only offer what it allows.
 */
import { useState } from 'react';
import { api } from '../api/client.ts';
import type { BanView } from '../api/types.ts';
import { Badge } from '../components/Badge.tsx';
import { Empty, ErrorNote, Loading } from '../components/Feedback.tsx';
import { Page } from '../components/Page.tsx';
import { relative } from '../format.ts';
import { useFormat } from '../session.tsx';
import { useApi } from '../useApi.ts';
import { TableWrap } from '../components/TableWrap.tsx';

const POLL_MS = 10_000;

function BanTable({ path, canLift, caption }: { path: string; canLift: (b: BanView) => boolean; caption: string }) {
  const bans = useApi<{ items: BanView[] }>(path, { pollMs: POLL_MS });
  const fmt = useFormat();
  const [error, setError] = useState<unknown>();
  const [lifting, setLifting] = useState<string>();

  const lift = async (b: BanView) => {
    const what = b.kind === 'address' ? `the ban on ${b.address}` : `the block of ${b.username} from ${b.address}`;
    if (!window.confirm(`Lift ${what}?`)) return;
    setLifting(b.id);
    setError(undefined);
    try {
      await api.delete(`${path}/${encodeURIComponent(b.id)}`);
      await bans.reload();
    } catch (err) {
      setError(err);
    } finally {
      setLifting(undefined);
    }
  };

  if (bans.loading && !bans.data) return <Loading what="blocks" />;
  return (
    <>
      <ErrorNote error={bans.error ?? error} />
      {bans.data?.items.length === 0 ? (
        <Empty>Nothing is blocked.</Empty>
      ) : (
        <TableWrap card label="Blocks">
          <table aria-label={caption}>
            <thead>
              <tr>
                <th scope="col">Blocked</th>
                <th scope="col">Why</th>
                <th scope="col">Usernames that failed</th>
                <th scope="col">Until</th>
                <th scope="col" aria-label="Actions" />
              </tr>
            </thead>
            <tbody>
              {bans.data?.items.map((b) => (
                <tr key={b.id}>
                  <td>
                    <Badge tone={b.kind === 'address' ? 'bad' : 'warn'}>{b.kind === 'address' ? 'address' : 'account'}</Badge> <span className="mono">{b.address}</span>
                    {b.username && <div className="muted">account {b.username}</div>}
                  </td>
                  <td>
                    {b.reason}
                    <div className="muted small">
                      since {fmt.dateTime(b.since)} · node {b.node}
                    </div>
                  </td>
                  <td className="mono">{b.usernames.join(', ')}</td>
                  <td title={fmt.dateTime(b.until)}>{relative(b.until)}</td>
                  <td>
                    {canLift(b) && (
                      <button type="button" className="btn small" disabled={lifting === b.id} onClick={() => void lift(b)}>
                        {lifting === b.id ? 'Lifting…' : 'Lift'}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
    </>
  );
}

export function BlocksPage() {
  return (
    <Page
      title="Blocks"
      subtitle="Addresses that failed to sign in as your phones too often are kept away for a while. You can lift the block of one of your accounts from an address (when the failures were your own phone's); a ban on a whole address may protect other customers too, so only the operator can lift it."
    >
      <BanTable path="/sip-blocks" canLift={(b) => b.kind === 'account'} caption="Blocks that concern your accounts" />
    </Page>
  );
}

export function OperationsPage() {
  return (
    <Page
      title="Operations"
      subtitle="Every block the switch holds, on this node: addresses banned for trying many usernames, and accounts blocked from one address after repeated wrong passwords. Lifting one lets that address in again at once."
    >
      <BanTable path="/operator/bans" canLift={() => true} caption="Every block on this node" />
    </Page>
  );
}
