/** The tenant's SIP providers (trunks) and whether each is registered. */
import { ApiError } from '../api/client.ts';
import type { Provider } from '../api/types.ts';
import { Badge } from '../components/Badge.tsx';
import { Empty, ErrorNote, Loading, Notice } from '../components/Feedback.tsx';
import { Page } from '../components/Page.tsx';
import { describeHealth, describeProviderStatus, providerTone, STATE_LABEL } from '../providers/statusWords.ts';
import { Link } from '../router.tsx';
import { useFormat } from '../session.tsx';
import { useProviderApi } from '../providers/useProviderApi.ts';
import { TableWrap } from '../components/TableWrap.tsx';

/** The providers API answers 404 "no such route" on a switch that does not have it yet. */
export const providersMissing = (err: unknown) => err instanceof ApiError && err.status === 404 && err.message === 'no such route';

export function ProvidersUnavailable() {
  return <Notice tone="info">This switch does not offer SIP providers yet.</Notice>;
}

export function ProvidersPage() {
  const fmt = useFormat();
  const providers = useProviderApi<{ items: Provider[] }>('/providers');
  const missing = providersMissing(providers.error);
  return (
    <Page
      title="Providers"
      subtitle="SIP providers (trunks) carry your calls to and from the phone network."
      actions={
        !missing && (
          <Link to="/providers/new" className="btn primary">
            Add provider
          </Link>
        )
      }
    >
      {missing ? <ProvidersUnavailable /> : <ErrorNote error={providers.error} />}
      {providers.loading && !providers.data ? (
        <Loading what="providers" />
      ) : providers.data?.items.length === 0 ? (
        <Empty>No providers yet. Add the account your SIP provider gave you to call numbers outside the switch and receive calls from them.</Empty>
      ) : (
        providers.data && (
          <TableWrap card label="Providers">
            <table>
              <thead>
                <tr>
                  <th scope="col">Provider</th>
                  <th scope="col">Server</th>
                  <th scope="col">State</th>
                  <th scope="col">Answers</th>
                  <th scope="col">Details</th>
                </tr>
              </thead>
              <tbody>
                {providers.data.items.map((p) => (
                  <tr key={p.id}>
                    <td>
                      <Link to={`/providers/${p.id}`} className="strong">
                        {p.name}
                      </Link>
                    </td>
                    <td className="mono">
                      {p.host}
                      {p.port ? `:${p.port}` : ''} ({p.transport.toUpperCase()})
                    </td>
                    <td>
                      <Badge tone={providerTone(p.status)}>{STATE_LABEL[p.status.state]}</Badge>
                    </td>
                    <td>{describeHealth(p.health)}</td>
                    <td>{describeProviderStatus(p, fmt.dateTime)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        )
      )}
    </Page>
  );
}
