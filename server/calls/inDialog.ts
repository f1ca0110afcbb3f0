/**
 * Requests inside a call's dialogs, for every leg alike (inbound or outbound, placed now or
 * resumed after a restart): BYE ends the leg and hangs up the other side; REFER transfers
 * (transfer.ts); OPTIONS is answered here; everything else (re-INVITE, UPDATE, INFO, NOTIFY, …)
 * is relayed to the other side of the bridge and its answer relayed back. The ACKs of our 2xx go
 * to their transactions (transactions.ts), not here.
 */
import type { Step } from '../sip/pipeline.ts';
import { headerText } from '../sip/message.ts';
import type { SipStack } from '../sip/stack.ts';
import type { ServerTransaction } from '../sip/transactions.ts';
import type { Call } from './call.ts';
import type { Channel } from './channel.ts';
import { bodyOf } from './dialog.ts';
import type { DialogTable } from './dialogTable.ts';
import { transferByRefer, type TransferDeps } from './transfer.ts';

/** Headers of a relayed request that mean something to the other side (events, sessions, extensions). */
const RELAYED_HEADERS = ['event', 'subscription-state', 'info-package', 'session-expires', 'min-se', 'supported', 'require'];

export class InDialogRequests {
  constructor(
    private readonly stack: SipStack,
    private readonly dialogs: DialogTable,
    private readonly transfers: (call: Call) => TransferDeps,
  ) {}

  /** Pipeline step: a request inside a dialog (it has a To tag). */
  readonly step: Step = async (tx) => {
    const req = tx.request;
    if (!req.headers.to?.params.tag || req.method === 'CANCEL') return false;
    const channel = this.dialogs.match(req);
    if (!channel) {
      tx.respond(481);
      return true;
    }
    const call = channel.call as Call;
    channel.dialog.state.remoteSeq = Math.max(channel.dialog.state.remoteSeq, req.headers.cseq!.seq);
    switch (req.method) {
      case 'BYE':
        call.byeFrom(channel, tx);
        break;
      case 'OPTIONS':
        tx.respond(200, 'OK');
        break;
      case 'REFER':
        void transferByRefer(call, channel, tx, this.transfers(call)).catch((err: unknown) => {
          call.log.error({ err, channelId: channel.id }, 'transfer failed');
          if (!tx.answered) tx.respond(500);
        });
        break;
      default:
        // The request is answered when the other side answers: the step ends only then.
        await this.relay(call, channel, tx);
    }
    return true;
  };

  /** Passes a mid-call request to the other side of the bridge and its answer back. */
  private relay(call: Call, from: Channel, tx: ServerTransaction): Promise<void> {
    const to = call.bridgeOf(from)?.peersOf(from)[0];
    if (!to) {
      tx.respond(481);
      return Promise.resolve();
    }
    const req = tx.request;
    if (req.method === 'INVITE') tx.respond(100, 'Trying');
    const extra: Record<string, unknown> = {};
    for (const h of RELAYED_HEADERS) {
      const v = headerText(req, h);
      if (v) extra[h] = v;
    }
    const out = to.dialog.request(req.method, this.stack.contact(to.peer.transport), extra, bodyOf(req));
    const seq = out.headers.cseq!.seq;
    return new Promise<void>((answered) => {
      this.stack.clientTransactions.send(out, to.peer, {
        onProvisional: (res) => {
          if (res.status > 100) tx.respond(res.status, res.reason);
        },
        onFinal: (res) => {
          const accepted = req.method === 'INVITE' && res.status < 300;
          const headers: Record<string, unknown> = {};
          if (accepted) {
            to.dialog.confirmFrom(res);
            headers.contact = [{ uri: this.stack.contact(from.peer.transport).replace(/^<|>$/g, ''), params: {} }];
          }
          const st = headerText(res, 'session-expires');
          if (st) headers['session-expires'] = st;
          tx.respond(res.status, res.reason, headers, bodyOf(res));
          if (accepted) {
            // An offerless re-INVITE: the 2xx carries the other side's offer and the originator's
            // ACK the answer, which our ACK must carry on. Otherwise ACK at once.
            const lateOffer = !bodyOf(req) && Boolean(bodyOf(res));
            if (!lateOffer) call.sendAck(to, seq);
            call.awaitAck(tx, (ack) => {
              if (lateOffer) call.sendAck(to, seq, ack ? bodyOf(ack) : undefined);
            });
          }
          answered();
        },
      });
    });
  }
}
