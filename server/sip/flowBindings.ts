/**
 * Bindings registered over a connection (TCP, TLS, WebSocket) belong to it, RFC 5626 style: the
 * phone is reached over that connection, whatever its Contact says and wherever its NAT has moved
 * it since (the binding's source is the connection's peer, which is how the transport finds it), and
 * the binding goes when the connection closes: it is deleted from the location store, unless a later
 * REGISTER has moved it to another connection or transport meanwhile. While the connection holds a
 * binding it is not closed for idleness before the binding expires.
 *
 * What a node knows about its connections dies with it: at start, the bindings it stored over
 * connections in an earlier run are deleted (`forgetPreviousRun`), since those connections are gone.
 */
import type { Logger } from 'pino';
import type { Binding, LocationStore } from '../store/registrations.ts';
import { isConnectionBound, isTransportName, type AnyPeer, type SipConnection } from './transport.ts';

/** Idle connections holding a binding stay open this long past its expiry, for a late refresh. */
const EXPIRY_GRACE_MS = 30_000;

export class FlowBindings {
  private readonly byConnection = new Map<SipConnection, Map<string, Binding>>();
  private readonly connectionOf = new Map<string, SipConnection>();

  constructor(
    private readonly location: LocationStore,
    private readonly log: Logger,
  ) {}

  /** How many bindings are held by open connections now. */
  get size(): number {
    return this.connectionOf.size;
  }

  /** A REGISTER over `connection` (none: over UDP) stored `upsert` and deleted `remove`. */
  registered(connection: SipConnection | undefined, upsert: readonly Binding[], remove: readonly Binding[]): void {
    for (const b of remove) this.forget(b.id);
    for (const b of upsert) {
      this.forget(b.id);
      if (!connection?.open) continue;
      let held = this.byConnection.get(connection);
      if (!held) this.byConnection.set(connection, (held = new Map()));
      held.set(b.id, b);
      this.connectionOf.set(b.id, connection);
      connection.keepUntil = Math.max(connection.keepUntil, b.expiresAt + EXPIRY_GRACE_MS);
    }
  }

  private forget(bindingId: string): void {
    const connection = this.connectionOf.get(bindingId);
    if (!connection) return;
    this.connectionOf.delete(bindingId);
    const held = this.byConnection.get(connection);
    held?.delete(bindingId);
    if (held?.size === 0) this.byConnection.delete(connection);
  }

  /** The connection closed: its bindings are deleted, each unless it has been registered anew elsewhere. */
  async closed(connection: SipConnection): Promise<void> {
    const held = this.byConnection.get(connection);
    if (!held) return;
    this.byConnection.delete(connection);
    for (const id of held.keys()) this.connectionOf.delete(id);
    const byAccount = new Map<string, Binding[]>();
    for (const b of held.values()) byAccount.set(b.accountId, [...(byAccount.get(b.accountId) ?? []), b]);
    for (const [accountId, bindings] of byAccount) {
      try {
        const current = await this.location.bindings(accountId, Date.now());
        const stale = current.filter((c) => bindings.some((b) => b.id === c.id && sameSource(b, c)));
        if (!stale.length) continue;
        await this.location.apply({ upsert: [], remove: stale }, new Set(current.map((c) => c.id)));
        this.log.info(
          { tenantId: stale[0]!.tenantId, accountId, removed: stale.length, transport: connection.peer.transport, ip: connection.peer.address, port: connection.peer.port },
          'registration removed: its connection closed',
        );
      } catch (err) {
        this.log.warn({ err, accountId }, 'could not remove the registrations of a closed connection; they expire on their own');
      }
    }
  }
}

/** Still the binding of that connection: same flow and node (not since registered again elsewhere). */
function sameSource(a: Binding, b: Binding): boolean {
  return a.transport === b.transport && a.sourceIp === b.sourceIp && a.sourcePort === b.sourcePort && a.nodeId === b.nodeId;
}

/** Which stored transports are connection-bound (for deleting a previous run's bindings). */
export const CONNECTION_BOUND_TRANSPORTS = (['tcp', 'tls', 'ws', 'wss'] as const).filter((t) => isConnectionBound(t));

/**
 * Where a binding's phone is reached: where its REGISTER came from (NAT-safe), over its transport;
 * for a connection-bound one that names its connection, which the transport looks up by it.
 */
export function peerOfBinding(b: Pick<Binding, 'transport' | 'sourceIp' | 'sourcePort'>): AnyPeer {
  return { transport: isTransportName(b.transport) ? b.transport : 'udp', address: b.sourceIp, port: b.sourcePort };
}
