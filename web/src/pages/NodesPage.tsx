/**
 * The nodes of the cluster, for operators (`/nodes`): each node's addresses, whether it is alive
 * (its heartbeat is recent) or dead (silent, or taken over by a survivor that ended its calls),
 * how long ago it last beat, and the calls and registrations it holds. The API decides who is an
 * operator (OPERATOR_EMAILS); anyone else gets its refusal here, and no link to the page.
 */
import type { NodeState, NodeView } from '../../../contract/nodes.ts';
import { Badge } from '../components/Badge.tsx';
import { Empty, ErrorNote, Loading } from '../components/Feedback.tsx';
import { Page } from '../components/Page.tsx';
import { TableWrap } from '../components/TableWrap.tsx';
import type { Tone } from '../components/tone.ts';
import { relative } from '../format.ts';
import { useFormat } from '../session.tsx';
import { useApi } from '../useApi.ts';

const POLL_MS = 5_000;

const STATES: Record<NodeState, { tone: Tone; word: string; title: string }> = {
  up: { tone: 'good', word: 'alive', title: 'Its heartbeat is recent' },
  stopped: { tone: 'neutral', word: 'stopped', title: 'Stopped cleanly: its calls resume when it starts again' },
  silent: { tone: 'bad', word: 'dead', title: 'No heartbeat lately, and no survivor has taken it over yet' },
  'taken-over': { tone: 'bad', word: 'dead', title: 'No heartbeat: a survivor ended its calls' },
};

function NodeRow({ n }: { n: NodeView }) {
  const fmt = useFormat();
  const state = STATES[n.state];
  return (
    <tr data-testid="node" data-node={n.id} data-state={n.state}>
      <th scope="row">
        <span className="mono">{n.id}</span> {n.self && <span className="tag">this node</span>}
      </th>
      <td>
        <div className="mono">{n.sipAddress}</div>
        <div className="mono muted small">{n.httpUrl}</div>
      </td>
      <td>
        <Badge tone={state.tone} title={state.title}>
          {state.word}
        </Badge>
        {n.state === 'taken-over' && n.takenOverBy && <div className="muted small">taken over by {n.takenOverBy}</div>}
        {n.state === 'silent' && <div className="muted small">not taken over yet</div>}
      </td>
      <td title={fmt.dateTime(n.heartbeatAt)} data-testid="heartbeat">
        {relative(n.heartbeatAt)}
      </td>
      <td title={fmt.dateTime(n.startedAt)}>{relative(n.startedAt)}</td>
      <td>{n.calls}</td>
      <td>{n.registrations}</td>
    </tr>
  );
}

export function NodesPage() {
  const nodes = useApi<{ items: NodeView[] }>('/operator/nodes', { pollMs: POLL_MS });
  return (
    <Page
      title="Nodes"
      subtitle="The switch's nodes sharing this database. A node is alive while its heartbeat is recent; one that stops beating is dead, and a survivor takes it over: it ends the dead node's calls and closes their records, and its phones come back as they register again."
    >
      {nodes.loading && !nodes.data ? (
        <Loading what="the nodes" />
      ) : (
        <>
          <ErrorNote error={nodes.error} />
          {nodes.data?.items.length === 0 ? (
            <Empty>No node has reported: nodes record themselves when they share a MySQL database. A switch on SQLite is one node, this one.</Empty>
          ) : (
            nodes.data && (
              <TableWrap card label="Nodes">
                <table aria-label="Nodes of the cluster">
                  <thead>
                    <tr>
                      <th scope="col">Node</th>
                      <th scope="col">Address</th>
                      <th scope="col">State</th>
                      <th scope="col">Last heartbeat</th>
                      <th scope="col">Started</th>
                      <th scope="col">Calls held</th>
                      <th scope="col">Registrations</th>
                    </tr>
                  </thead>
                  <tbody>
                    {nodes.data.items.map((n) => (
                      <NodeRow key={n.id} n={n} />
                    ))}
                  </tbody>
                </table>
              </TableWrap>
            )
          )}
        </>
      )}
    </Page>
  );
}
