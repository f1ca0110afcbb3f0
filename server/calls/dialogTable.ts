import type { SipRequest } from '../sip/message.ts';
import { flowKey, type TransportName } from '../sip/transport.ts';
import type { Channel } from './channel.ts';
import { dialogKey } from './dialog.ts';

/** Legs that live only as long as their connection: nothing can open a WebSocket to a browser. */
const diesWithConnection = (t: TransportName): boolean => t === 'ws' || t === 'wss';

/**
 * Finds the channel an in-dialog request belongs to, by Call-ID and tags (RFC 3261 §12.2.2), and
 * the channels whose only way to their peer is a connection that has just closed.
 */
export class DialogTable {
  private readonly byKey = new Map<string, Channel>();
  private readonly byFlow = new Map<string, Set<Channel>>();

  add(channel: Channel): void {
    this.byKey.set(channel.dialog.key, channel);
    if (!diesWithConnection(channel.peer.transport)) return;
    const flow = flowKey(channel.peer);
    const on = this.byFlow.get(flow);
    if (on) on.add(channel);
    else this.byFlow.set(flow, new Set([channel]));
  }

  remove(channel: Channel): void {
    if (this.byKey.get(channel.dialog.key) === channel) this.byKey.delete(channel.dialog.key);
    const flow = flowKey(channel.peer);
    const on = this.byFlow.get(flow);
    if (on?.delete(channel) && !on.size) this.byFlow.delete(flow);
  }

  /** The channels reached only over this flow's connection (WebSocket legs), which closed. */
  onFlow(flow: string): Channel[] {
    return [...(this.byFlow.get(flow) ?? [])];
  }

  /** The request's To tag is ours, its From tag theirs. */
  match(req: SipRequest): Channel | undefined {
    const toTag = req.headers.to?.params.tag;
    if (!toTag) return undefined;
    return this.find(req.headers['call-id']!, toTag, req.headers.from?.params.tag ?? '');
  }

  /** The channel of a dialog named by its identifiers as we hold them (a `Replaces` header's). */
  find(callId: string, localTag: string, remoteTag: string): Channel | undefined {
    return this.byKey.get(dialogKey(callId, localTag, remoteTag));
  }

  get size(): number {
    return this.byKey.size;
  }
}
