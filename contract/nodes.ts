/** A node of the cluster as operators see it (`GET /api/operator/nodes`). */
export type NodeState = 'up' | 'stopped' | 'silent' | 'taken-over';

export interface NodeView {
  id: string;
  sipAddress: string;
  httpUrl: string;
  /** `up`: beating; `stopped`: stopped cleanly (its calls resume when it starts); `silent`: no heartbeat lately, not claimed yet; `taken-over`: a survivor ended its calls. */
  state: NodeState;
  startedAt: string;
  heartbeatAt: string;
  takenOverBy: string | null;
  /** Whether this is the node answering the request. */
  self: boolean;
  /** Calls in progress the node holds (their persisted state: a dead node's stay until a survivor ends them). */
  calls: number;
  /** Unexpired registrations of phones that registered through the node. */
  registrations: number;
}
