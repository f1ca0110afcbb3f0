/**
 * The live view: a consumer of the call event bus that keeps each tenant's current calls (their
 * live channels and bridges, by their stable ids) and fans the tenant's events out to listeners
 * (the portal's event stream). A listener only ever receives events of the tenant it asked for.
 * In a cluster, `share` hands this node's events to the other nodes (redisLiveRelay.ts) and
 * `ingest` takes theirs, so every node's view holds the calls of all of them.
 */
import type { BridgeSnapshot, CallEvent, ChannelSnapshot, EventBus } from './events.ts';
import type { ProviderStatus } from '../store/providers.ts';
import type { ProviderHealth } from '../providers/health.ts';

/** A provider's registration state changed (not a call event: it has no seq of the call bus). */
export interface ProviderStatusEvent {
  type: 'provider.status';
  tenantId: string;
  at: number;
  provider: Omit<ProviderStatus, 'tenantId' | 'updatedAt'>;
}

/** A provider started or stopped answering its OPTIONS pings. */
export interface ProviderHealthEvent {
  type: 'provider.health';
  tenantId: string;
  at: number;
  provider: Omit<ProviderHealth, 'tenantId' | 'checkedAt'>;
}

export type LiveEvent = CallEvent | ProviderStatusEvent | ProviderHealthEvent;

export interface LiveCall {
  callId: string;
  startedAt: number;
  /** Channels not yet hung up, in order of creation. */
  channels: ChannelSnapshot[];
  bridges: BridgeSnapshot[];
}

interface CallEntry {
  startedAt: number;
  channels: Map<string, ChannelSnapshot>;
  bridges: Map<string, BridgeSnapshot>;
}

export type LiveListener = (event: LiveEvent) => void;

/** Where this node's live events go for the other nodes of a cluster. */
export interface LiveRelay {
  publish(event: LiveEvent): void;
}

export interface LiveViewOptions {
  /** Listeners (open event streams) one tenant may have at once; default 10. */
  maxListenersPerTenant?: number;
}

/** The tenant has as many listeners as it may; nothing was subscribed. */
export class ListenerLimitError extends Error {
  constructor(readonly limit: number) {
    super(`at most ${limit} event streams may be open at once for a tenant; close another (a browser tab, a tool) first`);
  }
}

export class LiveView {
  private readonly tenants = new Map<string, Map<string, CallEntry>>();
  private readonly streams = new Map<string, Set<LiveListener>>();
  private readonly unsubscribe: () => void;
  private readonly maxListeners: number;
  private relay: LiveRelay | undefined;

  constructor(bus: EventBus, options: LiveViewOptions = {}) {
    this.maxListeners = options.maxListenersPerTenant ?? 10;
    this.unsubscribe = bus.subscribe((e) => this.local(e));
  }

  /** From now on this node's events also go to `relay`, for the other nodes. */
  share(relay: LiveRelay | undefined): void {
    this.relay = relay;
  }

  /** An event of another node: into the view and to the tenant's listeners, not passed on again. */
  ingest(e: LiveEvent): void {
    if (e.type !== 'provider.status' && e.type !== 'provider.health') this.apply(e);
    this.fanOut(e);
  }

  private local(e: LiveEvent): void {
    this.ingest(e);
    this.relay?.publish(e);
  }

  /** The tenant's current calls, oldest first. */
  calls(tenantId: string): LiveCall[] {
    const calls = this.tenants.get(tenantId);
    if (!calls) return [];
    return [...calls].map(([callId, c]) => ({ callId, startedAt: c.startedAt, channels: [...c.channels.values()], bridges: [...c.bridges.values()] }));
  }

  /**
   * Calls `fn` with each later event of this tenant, in order; returns the unsubscribe function.
   * Throws ListenerLimitError when the tenant already has its maximum of listeners.
   */
  subscribe(tenantId: string, fn: LiveListener): () => void {
    let set = this.streams.get(tenantId);
    if (set && set.size >= this.maxListeners) throw new ListenerLimitError(this.maxListeners);
    if (!set) this.streams.set(tenantId, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (!set.size && this.streams.get(tenantId) === set) this.streams.delete(tenantId);
    };
  }

  /** Open event streams of a tenant (for metrics, and for tests that check a stream was cleaned up). */
  listenerCount(tenantId: string): number {
    return this.streams.get(tenantId)?.size ?? 0;
  }

  /** Tells the tenant's open streams that one of its providers changed registration state. */
  providerStatus(s: ProviderStatus): void {
    const { tenantId, updatedAt, ...provider } = s;
    this.local({ type: 'provider.status', tenantId, at: updatedAt, provider });
  }

  /** Tells the tenant's open streams that one of its providers became reachable or unreachable. */
  providerHealth(h: ProviderHealth): void {
    const { tenantId, checkedAt, ...provider } = h;
    this.local({ type: 'provider.health', tenantId, at: checkedAt, provider });
  }

  stop(): void {
    this.unsubscribe();
    this.relay = undefined;
    this.streams.clear();
    this.tenants.clear();
  }

  private apply(e: CallEvent): void {
    let calls = this.tenants.get(e.tenantId);
    if (e.type === 'call.ended') {
      calls?.delete(e.callId);
      if (calls && !calls.size) this.tenants.delete(e.tenantId);
      return;
    }
    if (!calls) this.tenants.set(e.tenantId, (calls = new Map()));
    let call = calls.get(e.callId);
    if (!call) calls.set(e.callId, (call = { startedAt: e.at, channels: new Map(), bridges: new Map() }));
    switch (e.type) {
      case 'channel.created':
      case 'channel.state':
        call.channels.set(e.channel.id, e.channel);
        call.startedAt = Math.min(call.startedAt, e.channel.createdAt);
        return;
      case 'channel.hungup':
        call.channels.delete(e.channel.id);
        return;
      case 'channel.media': {
        // A leg's final figures come after it left: it stays gone from the live view.
        const channel = call.channels.get(e.channelId);
        if (channel) call.channels.set(e.channelId, { ...channel, media: e.media });
        return;
      }
      case 'bridge.created':
      case 'bridge.entered':
      case 'bridge.left':
        call.bridges.set(e.bridge.id, e.bridge);
        return;
      case 'bridge.destroyed':
        call.bridges.delete(e.bridge.id);
        return;
      default:
        return;
    }
  }

  private fanOut(e: LiveEvent): void {
    const set = this.streams.get(e.tenantId);
    if (!set) return;
    for (const fn of set) {
      try {
        fn(e);
      } catch {
        // A broken listener (a stream that failed) is dropped, never allowed to stop the others.
        set.delete(fn);
      }
    }
  }
}
