/**
 * Requests inside a call's dialogs, for every leg alike (inbound or outbound, placed now or
 * resumed after a restart): BYE ends the leg and hangs up the other side; REFER transfers
 * (transfer.ts); OPTIONS is answered here, and so is a caller's DTMF INFO while its dialplan
 * listens (infoDtmf.ts: the digit goes to the dialplan's collect()); everything else (re-INVITE, UPDATE, INFO, NOTIFY, …)
 * is relayed to the other side of the bridge and its answer relayed back. The ACKs of our 2xx go
 * to their transactions (transactions.ts), not here.
 */
import type { Step } from '../sip/pipeline.ts';
import { headerText, type SipResponse } from '../sip/message.ts';
import type { SipStack } from '../sip/stack.ts';
import type { ServerTransaction } from '../sip/transactions.ts';
import type { Call } from './call.ts';
import type { Channel } from './channel.ts';
import { bodyOf } from './dialog.ts';
import type { DialogTable } from './dialogTable.ts';
import { infoDigit } from './infoDtmf.ts';
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
      case 'INFO':
        if (!this.digitForDialplan(call, channel, tx)) await this.relay(call, channel, tx);
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

  /**
   * A digit the caller sent as INFO while the dialplan that answered it has its audio (and no
   * bridge carries the INFO on to a callee): the dialplan gets it, the caller a 200.
   */
  private digitForDialplan(call: Call, channel: Channel, tx: ServerTransaction): boolean {
    if (channel !== call.inbound || !call.audio || call.bridgeOf(channel)) return false;
    const digit = infoDigit(bodyOf(tx.request));
    if (digit === undefined) return false;
    // The digit itself is not logged: it may be a PIN.
    channel.log.info('DTMF digit in a SIP INFO, for the dialplan');
    call.audio.dtmf(digit);
    tx.respond(200, 'OK');
    return true;
  }

  /**
   * Passes a mid-call request to the other side of the bridge and its answer back. The SDP of a
   * re-INVITE or UPDATE (hold, resume, a codec change) goes through the relay both ways: an offer
   * from `from` answered by `to`, or, offerless, the 2xx offering and the ACK answering.
   */
  private async relay(call: Call, from: Channel, tx: ServerTransaction): Promise<void> {
    const to = call.bridgeOf(from)?.peersOf(from)[0];
    if (!to) {
      tx.respond(481);
      return;
    }
    const req = tx.request;
    if (req.method === 'INVITE') tx.respond(100, 'Trying');
    const extra: Record<string, unknown> = {};
    for (const h of RELAYED_HEADERS) {
      const v = headerText(req, h);
      if (v) extra[h] = v;
    }
    const negotiates = req.method === 'INVITE' || req.method === 'UPDATE';
    let body = bodyOf(req);
    if (negotiates && body) {
      try {
        body = await call.media.offer(from, to, body);
      } catch (err) {
        from.log.warn({ err: (err as Error).message, method: req.method }, 'media relay refused a mid-call offer');
        tx.respond(488, 'Not Acceptable Here');
        return;
      }
    }
    const out = to.dialog.request(req.method, this.stack.contact(to.peer.transport), extra, body);
    const seq = out.headers.cseq!.seq;
    const res = await new Promise<SipResponse>((resolve) => {
      this.stack.clientTransactions.send(out, to.peer, {
        onProvisional: (p) => {
          if (p.status > 100) tx.respond(p.status, p.reason);
        },
        onFinal: resolve,
      });
    });
    const accepted = req.method === 'INVITE' && res.status < 300;
    const headers: Record<string, unknown> = {};
    if (accepted) {
      to.dialog.confirmFrom(res);
      headers.contact = [{ uri: this.stack.contact(from.peer.transport).replace(/^<|>$/g, ''), params: {} }];
    }
    const st = headerText(res, 'session-expires');
    if (st) headers['session-expires'] = st;
    // An offerless re-INVITE: the 2xx carries the other side's offer and the originator's ACK the
    // answer, which our ACK must carry on. Otherwise the 2xx answers and we ACK at once.
    const lateOffer = accepted && !bodyOf(req) && Boolean(bodyOf(res));
    let resBody = bodyOf(res);
    if (negotiates && res.status < 300 && resBody) {
      try {
        resBody = lateOffer ? await call.media.offer(to, from, resBody) : await call.media.answer(from, to, resBody);
      } catch (err) {
        // The other side accepted already; its SDP goes on as it is (audio may not reach it).
        to.log.warn({ err: (err as Error).message, method: req.method }, 'media relay refused a mid-call answer: passed on untouched');
      }
    }
    tx.respond(res.status, res.reason, headers, resBody);
    if (!accepted) return;
    if (!lateOffer) call.sendAck(to, seq);
    call.awaitAck(tx, (ack) => {
      if (!lateOffer) return;
      void call.media.answer(to, from, ack ? bodyOf(ack) : undefined).then(
        (answer) => call.sendAck(to, seq, answer),
        (err: Error) => {
          from.log.warn({ err: err.message }, "media relay refused the answer in a re-INVITE's ACK: passed on untouched");
          call.sendAck(to, seq, ack ? bodyOf(ack) : undefined);
        },
      );
    });
  }
}
