/**
 * This node as a member of a cluster on one MySQL database: it records itself in the nodes table
 * and beats there every `heartbeatMs`; every beat it also looks for nodes that stopped beating for
 * `deadAfterMs` without stopping cleanly, and when its claim on one takes (one survivor's does), it
 * takes over what the dead node left: its calls are resumed here only to be ended cleanly (their
 * records close), its places in the cluster's call limits are freed, and its phones' bindings over
 * connections it held (TCP, TLS, WebSocket) are dropped, since nobody can reach them any more;
 * those phones register again, through the front door, with a live node.
 *
 * A node stopped cleanly (SIGTERM) is not taken over: its calls are persisted and resumed when it
 * starts again. A node that only paused longer than `deadAfterMs` is taken for dead: keep it well
 * above the heartbeat and any pause a node may have.
 */
import type { Logger } from 'pino';
import type { NodeDirectory, NodeRecord } from './store/nodes.ts';
import type { LiveCallRow } from './store/liveCalls.ts';

export interface ClusterMembershipOptions {
  self: { id: string; sipAddress: string; httpUrl: string };
  nodes: NodeDirectory;
  heartbeatMs: number;
  deadAfterMs: number;
  /** The persisted calls of a node. */
  callsOf(nodeId: string): Promise<LiveCallRow[]>;
  /** Ends a dead node's calls here (their records close) and frees what else it held. */
  takeOver(dead: NodeRecord, calls: LiveCallRow[]): Promise<void>;
  log: Logger;
}

export interface ClusterMembership {
  /** One heartbeat and one look for dead nodes, now (tests; the timer does it otherwise). */
  beat(): Promise<void>;
  /** A clean stop: marks this node stopped, so nobody takes its (persisted) calls over. */
  stop(): Promise<void>;
}

export async function joinCluster(o: ClusterMembershipOptions): Promise<ClusterMembership> {
  await o.nodes.started(o.self);
  let failing = false;
  let beating: Promise<void> = Promise.resolve();
  const beatOnce = async () => {
    try {
      await o.nodes.heartbeat(o.self.id);
      const silentSince = Date.now() - o.deadAfterMs;
      for (const dead of await o.nodes.dead(silentSince)) {
        if (dead.id === o.self.id || !(await o.nodes.claim(dead.id, o.self.id, silentSince))) continue;
        const calls = await o.callsOf(dead.id);
        o.log.warn(
          { deadNode: dead.id, lastHeartbeat: new Date(dead.heartbeatAt).toISOString(), calls: calls.length },
          'a node stopped beating: taking over its calls to end them',
        );
        await o.takeOver(dead, calls);
      }
      if (failing) o.log.info('node heartbeat written again');
      failing = false;
    } catch (err) {
      if (!failing) o.log.warn({ err }, 'node heartbeat or takeover failed; retrying at the next beat');
      failing = true;
    }
  };
  const beat = () => (beating = beating.then(beatOnce));
  const timer = setInterval(() => void beat(), o.heartbeatMs);
  timer.unref();
  return {
    beat,
    stop: async () => {
      clearInterval(timer);
      await beating;
      await o.nodes.stopped(o.self.id).catch((err: unknown) => o.log.warn({ err }, 'could not record this node as stopped'));
    },
  };
}
