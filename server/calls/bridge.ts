import { newId } from '../store/ids.ts';
import type { CallContext, Channel } from './channel.ts';
import type { BridgeSnapshot, TransferPolicy } from './events.ts';

/** Joins channels so they talk to each other. Channels are pushed in and pulled out; ids never change. */
export class Bridge {
  readonly id: string;
  readonly createdAt: number;
  readonly channels = new Set<Channel>();
  destroyed = false;
  readonly transfers: TransferPolicy;

  /** `restored`: the bridge a previous run of this node had made, with its channels, re-joined quietly. */
  constructor(
    private readonly call: CallContext,
    transfers: TransferPolicy,
    restored?: { snapshot: BridgeSnapshot; channels: Channel[] },
  ) {
    this.id = restored?.snapshot.id ?? newId();
    this.createdAt = restored?.snapshot.createdAt ?? Date.now();
    // Bridges persisted before transfers had a policy allow none.
    this.transfers = restored ? (restored.snapshot.transfers ?? 'nobody') : transfers;
    if (restored) {
      for (const c of restored.channels) this.channels.add(c);
      call.bus.emit({ type: 'bridge.entered', tenantId: call.tenantId, callId: call.id, bridge: this.snapshot(), channelId: restored.channels[0]?.id ?? '' });
      return;
    }
    call.bus.emit({ type: 'bridge.created', tenantId: call.tenantId, callId: call.id, bridge: this.snapshot() });
  }

  snapshot(): BridgeSnapshot {
    return {
      id: this.id,
      callId: this.call.id,
      tenantId: this.call.tenantId,
      channelIds: [...this.channels].map((c) => c.id),
      createdAt: this.createdAt,
      transfers: this.transfers,
    };
  }

  push(channel: Channel): void {
    if (this.destroyed || this.channels.has(channel)) return;
    this.channels.add(channel);
    channel.bridgeId = this.id;
    this.call.bus.emit({ type: 'bridge.entered', tenantId: this.call.tenantId, callId: this.call.id, bridge: this.snapshot(), channelId: channel.id });
  }

  pull(channel: Channel): void {
    if (!this.channels.delete(channel)) return;
    if (channel.bridgeId === this.id) channel.bridgeId = undefined;
    this.call.bus.emit({ type: 'bridge.left', tenantId: this.call.tenantId, callId: this.call.id, bridge: this.snapshot(), channelId: channel.id });
  }

  /** Whether `channel` may hand the other party over to someone else (REFER). */
  mayTransfer(channel: Channel): boolean {
    return this.transfers === 'anyone' || (this.transfers === 'phones' && channel.init.account !== undefined);
  }

  /** The other live channels, those a request from `channel` is relayed to. */
  peersOf(channel: Channel): Channel[] {
    return [...this.channels].filter((c) => c !== channel && c.live);
  }

  destroy(): void {
    if (this.destroyed) return;
    for (const c of [...this.channels]) this.pull(c);
    this.destroyed = true;
    this.call.bus.emit({ type: 'bridge.destroyed', tenantId: this.call.tenantId, callId: this.call.id, bridge: this.snapshot() });
  }
}
