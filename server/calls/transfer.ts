/**
 * Blind transfer by REFER (RFC 3515): the transferer asks us to connect the party it talks to (the
 * transferee) with a new target. The transferee's channel is *moved* from the old bridge into a new
 * one with the target's channel; no channel is renamed or replaced.
 *
 * Media: the target is invited without SDP (late offer); its 200 carries an offer, which goes to the
 * transferee in a re-INVITE; the transferee's answer goes back to the target in the ACK.
 */
import type { Logger } from 'pino';
import { parseUri, type NameAddr } from '../sip/message.ts';
import type { ServerTransaction } from '../sip/transactions.ts';
import type { SipAccount } from '../store/sipAccounts.ts';
import type { BranchPurpose } from './branch.ts';
import type { Call } from './call.ts';
import type { Channel } from './channel.ts';
import { bodyOf } from './dialog.ts';
import type { Dialer } from './dialer.ts';
import type { Party } from './events.ts';
import type { DialLeg } from '../dialplan/types.ts';

export interface TransferDeps {
  dialer: Dialer;
  account(username: string): Promise<SipAccount | null>;
  log: Logger;
}

/** The party a channel stands for: the caller for the inbound leg, the callee for an outbound one. */
const partyOf = (c: Channel): Party => (c.direction === 'inbound' ? c.init.from : c.init.to);

export async function blindTransfer(call: Call, transferer: Channel, tx: ServerTransaction, deps: TransferDeps): Promise<void> {
  const referTo = tx.request.headers['refer-to'] as NameAddr | undefined;
  const uri = referTo ? parseUri(String(referTo.uri).replace(/^<|>$/g, '')) : undefined;
  if (!uri) {
    tx.respond(400, 'Bad Refer-To');
    return;
  }
  const transferee = call.bridgeOf(transferer)?.peersOf(transferer)[0];
  if (!transferee || call.transferring.has(transferee)) {
    tx.respond(transferee ? 491 : 481, transferee ? 'Transfer In Progress' : undefined);
    return;
  }
  tx.respond(202, 'Accepted');
  call.transferring.add(transferee);
  notify(call, transferer, 'SIP/2.0 100 Trying', 'active;expires=60');

  const user = uri.user ? decodeURIComponent(uri.user) : '';
  const account = user ? await deps.account(user) : null;
  const target = account ? account.username : String(referTo!.uri).replace(/^<|>$/g, '');
  const leg: DialLeg = account
    ? { kind: 'account', account: account.username, target, options: { timeout: 30, delay: 0 } }
    : { kind: 'uri', uri: target, target, options: { timeout: 30, delay: 0 } };

  let moved = false;
  const purpose: BranchPurpose = {
    maxForwards: 70,
    answersCaller: false,
    progress: () => {},
    answered: (newChannel, res, seq) => {
      // The transferred call keeps the limits it had: a leg's maxDuration applies to dials only.
      const offer = bodyOf(res);
      if (!transferee.live || !offer) return false;
      call.bridgeOf(transferee)?.pull(transferee);
      call.newBridge(transferee, newChannel);
      newChannel.setState('up');
      moved = true;
      reinvite(call, transferee, newChannel, offer, seq);
      return true;
    },
  };
  const controller = new AbortController();
  const result = await deps.dialer.dial(call, { groups: [[leg]] }, partyOf(transferee), controller.signal, purpose);
  call.transferring.delete(transferee);
  const ok = result.answered && moved;
  call.bus.emit({
    type: 'transfer.blind',
    tenantId: call.tenantId,
    callId: call.id,
    transferer: transferer.id,
    transferee: transferee.id,
    target,
    result: ok ? 'ok' : 'failed',
    ...(result.sipStatus ? { sipStatus: result.sipStatus } : {}),
  });
  if (ok) {
    call.transferredAway.add(transferer);
    notify(call, transferer, 'SIP/2.0 200 OK', 'terminated;reason=noresource');
    return;
  }
  const status = result.sipStatus && result.sipStatus >= 300 ? result.sipStatus : 503;
  notify(call, transferer, `SIP/2.0 ${status} Transfer Failed`, 'terminated;reason=noresource');
  // The transferer may have hung up meanwhile, expecting success: then nobody is left for the
  // transferee to talk to.
  if (!transferer.live && transferee.live) call.sendBye(transferee, 'normal', 'switch');
  call.maybeEnd();
}

function notify(call: Call, to: Channel, sipfrag: string, subscriptionState: string): void {
  if (!to.live) return;
  const stack = call.services.stack;
  const req = to.dialog.request(
    'NOTIFY',
    stack.contact(to.peer.transport),
    { event: 'refer', 'subscription-state': subscriptionState },
    { type: 'message/sipfrag;version=2.0', content: `${sipfrag}\r\n` },
  );
  stack.clientTransactions.send(req, to.peer, { onFinal: () => {} });
}

/** Gives the transferee the new party's SDP; its answer completes the new party's INVITE in the ACK. */
function reinvite(call: Call, transferee: Channel, target: Channel, offer: { type: string; content: string }, targetSeq: number): void {
  const stack = call.services.stack;
  const req = transferee.dialog.request('INVITE', stack.contact(transferee.peer.transport), {}, offer);
  const seq = req.headers.cseq!.seq;
  stack.clientTransactions.send(req, transferee.peer, {
    onFinal: (res) => {
      if (res.status < 300) {
        transferee.dialog.confirmFrom(res);
        call.sendAck(transferee, seq);
        call.sendAck(target, targetSeq, bodyOf(res));
        return;
      }
      // The transferee refused the new media: complete the target's handshake and end that leg.
      call.sendAck(target, targetSeq);
      call.sendBye(target, 'switch-error', 'switch');
    },
  });
}
