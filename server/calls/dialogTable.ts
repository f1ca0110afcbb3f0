import type { SipRequest } from '../sip/message.ts';
import type { Channel } from './channel.ts';
import { dialogKey } from './dialog.ts';

/** Finds the channel an in-dialog request belongs to, by Call-ID and tags (RFC 3261 §12.2.2). */
export class DialogTable {
  private readonly byKey = new Map<string, Channel>();

  add(channel: Channel): void {
    this.byKey.set(channel.dialog.key, channel);
  }

  remove(channel: Channel): void {
    if (this.byKey.get(channel.dialog.key) === channel) this.byKey.delete(channel.dialog.key);
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
