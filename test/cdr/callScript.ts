/**
 * Emits a call's events on a running switch's bus, as call handling would, with the times the
 * test chooses (the bus stamps `at` itself; the snapshots' times are ours).
 */
import { v7 } from 'uuid';
import type { ChannelSnapshot, EventBus, HangupCause, Party } from '../../server/calls/events.ts';

export const party = (user: string, host = '127.0.0.1'): Party => ({ user, host, uri: `sip:${user}@${host}` });

interface LegOptions {
  from: string;
  to: string;
  at: number;
  target?: string;
  account?: string;
  provider?: string;
}

export class CallScript {
  readonly callId = v7();
  private readonly channels = new Map<string, ChannelSnapshot>();
  private bridgeId = v7();
  private readonly bridged: string[] = [];

  constructor(
    private readonly bus: EventBus,
    readonly tenantId: string,
  ) {}

  private emit(e: Record<string, unknown>): void {
    this.bus.emit({ ...e, tenantId: this.tenantId, callId: this.callId } as Parameters<EventBus['emit']>[0]);
  }

  private leg(name: string, direction: 'inbound' | 'outbound', o: LegOptions): this {
    const channel: ChannelSnapshot = {
      id: v7(),
      callId: this.callId,
      tenantId: this.tenantId,
      direction,
      state: 'down',
      protocolId: `${name}-${v7()}@test`,
      from: party(o.from),
      to: party(o.to),
      ...(o.target !== undefined ? { target: o.target } : {}),
      ...(o.account !== undefined ? { account: o.account } : {}),
      ...(o.provider !== undefined ? { provider: o.provider } : {}),
      peer: { address: '127.0.0.1', port: 5062, transport: 'udp' },
      createdAt: o.at,
    };
    this.channels.set(name, channel);
    this.emit({ type: 'channel.created', channel });
    return this;
  }

  inbound = (name: string, o: LegOptions) => this.leg(name, 'inbound', o);
  outbound = (name: string, o: LegOptions) => this.leg(name, 'outbound', o);

  id(name: string): string {
    return this.channels.get(name)!.id;
  }

  private update(name: string, patch: Partial<ChannelSnapshot>): ChannelSnapshot {
    const channel = { ...this.channels.get(name)!, ...patch };
    this.channels.set(name, channel);
    return channel;
  }

  ringing(name: string, at: number): this {
    this.emit({ type: 'channel.state', channel: this.update(name, { state: 'ringing', ringingAt: at }) });
    return this;
  }

  answered(name: string, at: number): this {
    this.emit({ type: 'channel.state', channel: this.update(name, { state: 'up', answeredAt: at }) });
    return this;
  }

  /** Creates the call's bridge (first time) and puts the channels in it. */
  bridge(...names: string[]): this {
    if (!this.bridged.length) {
      this.emit({ type: 'bridge.created', bridge: this.bridgeSnapshot() });
    }
    for (const name of names) {
      this.bridged.push(this.id(name));
      this.emit({ type: 'channel.state', channel: this.update(name, { bridgeId: this.bridgeId }) });
      this.emit({ type: 'bridge.entered', bridge: this.bridgeSnapshot(), channelId: this.id(name) });
    }
    return this;
  }

  private bridgeSnapshot() {
    return { id: this.bridgeId, callId: this.callId, tenantId: this.tenantId, channelIds: [...this.bridged], createdAt: 0 };
  }

  hangup(name: string, o: { at: number; cause: HangupCause; by: 'caller' | 'callee' | 'switch'; sipStatus?: number }): this {
    const channel = this.update(name, {
      state: 'hungup',
      endedAt: o.at,
      hangupCause: o.cause,
      ...(o.sipStatus !== undefined ? { sipStatus: o.sipStatus } : {}),
    });
    const i = this.bridged.indexOf(channel.id);
    if (i >= 0) {
      this.bridged.splice(i, 1);
      this.emit({ type: 'bridge.left', bridge: this.bridgeSnapshot(), channelId: channel.id });
      if (!this.bridged.length) this.emit({ type: 'bridge.destroyed', bridge: this.bridgeSnapshot() });
    }
    this.emit({ type: 'channel.hungup', channel, cause: o.cause, by: o.by, ...(o.sipStatus !== undefined ? { sipStatus: o.sipStatus } : {}) });
    return this;
  }

  dialplan(name: string, version: number, lines: Array<[level: 'debug' | 'info' | 'warn' | 'error', message: string]> = []): this {
    const channelId = this.id('A');
    this.emit({ type: 'dialplan.started', channelId, executionId: `${channelId}-x`, dialplan: { name, version } });
    for (const [level, message] of lines) this.emit({ type: 'dialplan.log', channelId, level, message });
    return this;
  }

  dialplanEnded(outcome: string, error?: string): this {
    this.emit({ type: 'dialplan.ended', channelId: this.id('A'), executionId: `${this.id('A')}-x`, outcome, ...(error ? { error } : {}) });
    return this;
  }

  end(): this {
    this.emit({ type: 'call.ended' });
    return this;
  }
}
