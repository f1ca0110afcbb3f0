/**
 * Transfer by REFER (RFC 3515, RFC 5589): the transferer asks us to connect the party it talks to
 * (the transferee) with someone else. The transferee's channel is *moved* from the old bridge into
 * a new one with the new party's channel; no channel is renamed or replaced.
 *
 * Only the parties the tenant allowed for that call may transfer (the `transfer` option of the
 * dial that made the bridge), and a transfer is a call the tenant places: it takes one of the
 * tenant's calls of the minute, and where it goes is decided like any call the tenant places (its
 * dialplan, with the deny list, the international guard and the other limits of a dial).
 *
 * - Blind: Refer-To names a target, which the tenant's routing dials for the transferee.
 * - Attended: Refer-To carries `?Replaces=` naming the transferer's other call (the consultation
 *   with C). Its other end is invited again with `Replaces` (RFC 3891) naming C's dialog with us,
 *   so C's phone takes the transferee's call in place of the consultation and ends that one itself.
 *
 * Media either way: the new leg is invited without SDP (late offer); its 200 carries an offer,
 * which goes (through the relay, where the transferee keeps its port) to the transferee in a
 * re-INVITE; the transferee's answer goes back in the ACK. The transferer's ports go when it leaves.
 */
import type { Logger } from 'pino';
import type { DialResult } from '../dialplan/types.ts';
import { parseUri, type NameAddr, type SipUri } from '../sip/message.ts';
import { decodeUser, targetUri } from '../sip/wireValues.ts';
import type { ServerTransaction } from '../sip/transactions.ts';
import type { LegPurpose } from './outboundLeg.ts';
import type { Destination } from './destinations.ts';
import { transferOption, transferPolicy, type Call } from './call.ts';
import type { Admission } from './callBudgets.ts';
import type { Channel } from './channel.ts';
import { bodyOf } from './dialog.ts';
import type { DialogTable } from './dialogTable.ts';
import type { Dialer } from './dialer.ts';
import type { Party, TransferPolicy } from './events.ts';

/** Rings where a transfer goes, as the tenant's routing decides, with `purpose` moving the transferee. */
export type TransferRouter = (call: Call, transferer: Channel, transferee: Channel, target: { uri: string; parsed: SipUri }, purpose: LegPurpose) => Promise<DialResult>;

export interface TransferDeps {
  dialer: Dialer;
  dialogs: DialogTable;
  route: TransferRouter;
  /** One of the tenant's calls of the minute, or why not. */
  admitPlaced(tenantId: string): Admission;
  log: Logger;
}

/** The party a channel stands for: the caller for the inbound leg, the callee for an outbound one. */
const partyOf = (c: Channel): Party => (c.direction === 'inbound' ? c.init.from : c.init.to);

const RING_SECONDS = 30;

/** The dialog a `Replaces` value names (RFC 3891 §6.1), tags as its sender holds the dialog. */
export function parseReplaces(value: string): { callId: string; toTag: string; fromTag: string } | undefined {
  const [callId, ...params] = value.split(';').map((p) => p.trim());
  const tags: Record<string, string> = {};
  for (const p of params) {
    const eq = p.indexOf('=');
    if (eq > 0) tags[p.slice(0, eq).toLowerCase()] = p.slice(eq + 1);
  }
  if (!callId || !tags['to-tag'] || !tags['from-tag']) return undefined;
  return { callId, toTag: tags['to-tag'], fromTag: tags['from-tag'] };
}

function replacesOf(uri: SipUri): string | undefined {
  const entry = Object.entries(uri.headers ?? {}).find(([k]) => k.toLowerCase() === 'replaces');
  if (!entry) return undefined;
  try {
    return decodeURIComponent(String(entry[1]));
  } catch {
    return '';
  }
}

export async function transferByRefer(call: Call, transferer: Channel, tx: ServerTransaction, deps: TransferDeps): Promise<void> {
  const referTo = tx.request.headers['refer-to'] as NameAddr | undefined;
  const raw = referTo ? String(referTo.uri).replace(/^<|>$/g, '') : '';
  const uri = raw ? parseUri(raw) : undefined;
  if (!uri) {
    tx.respond(400, 'Bad Refer-To');
    return;
  }
  const bridge = call.bridgeOf(transferer);
  const transferee = bridge?.peersOf(transferer)[0];
  if (!bridge || !transferee || call.transferring.has(transferee)) {
    tx.respond(transferee ? 491 : 481, transferee ? 'Transfer In Progress' : undefined);
    return;
  }
  if (!bridge.mayTransfer(transferer)) {
    call.log.info({ channelId: transferer.id, transfers: bridge.transfers }, 'transfer refused: not allowed for this call');
    tx.respond(403, 'Transfer Not Allowed');
    return;
  }
  const replaces = replacesOf(uri);
  if (replaces === undefined) {
    const target = targetUri(raw);
    if (!target) {
      tx.respond(400, 'Bad Refer-To');
      return;
    }
    const refusal = await deps.admitPlaced(call.tenantId);
    if (refusal) {
      call.log.warn({ channelId: transferer.id, limit: refusal.limit }, `transfer refused: ${refusal.message}`);
      tx.respond(503, refusal.reason, { 'retry-after': String(refusal.retryAfterSeconds) });
      return;
    }
    await blindTransfer(call, transferer, transferee, target, tx, deps);
    return;
  }
  const consultation = consultationOf(call, transferer, replaces, deps.dialogs);
  if (typeof consultation === 'string') {
    call.log.info({ channelId: transferer.id, reason: consultation }, 'attended transfer refused');
    tx.respond(403, consultation);
    return;
  }
  await attendedTransfer(call, transferer, transferee, consultation, tx, deps.dialer, bridge.transfers);
}

async function blindTransfer(
  call: Call,
  transferer: Channel,
  transferee: Channel,
  target: { uri: string; parsed: SipUri },
  tx: ServerTransaction,
  deps: TransferDeps,
): Promise<void> {
  let reached: string | undefined;
  await runTransfer(call, transferer, transferee, tx, {
    place: async (purpose) => {
      const result = await deps.route(call, transferer, transferee, target, purpose);
      reached = result.target;
      return result;
    },
    report: (result, sipStatus) =>
      call.bus.emit({
        type: 'transfer.blind',
        tenantId: call.tenantId,
        callId: call.id,
        transferer: transferer.id,
        transferee: transferee.id,
        target: reached ?? (target.parsed.user ? decodeUser(target.parsed.user) : target.uri),
        result,
        ...(sipStatus ? { sipStatus } : {}),
      }),
  });
}

interface Consultation {
  /** The transferer's leg of its call with C, the one `Replaces` names. */
  replaced: Channel;
  /** C's leg in that call: the party the transferee is connected to. */
  target: Channel;
}

/** Who holds a channel's far end: its account or provider, else its address (a stranger's phone). */
function holderOf(c: Channel): string {
  if (c.init.account) return `account ${c.init.account}`;
  if (c.init.provider) return `provider ${c.init.provider}`;
  return `${c.peer.transport}:${c.peer.address}:${c.peer.port}`;
}

/** The consultation call a `Replaces` names, or why it cannot be used. */
function consultationOf(call: Call, transferer: Channel, replaces: string, dialogs: DialogTable): Consultation | string {
  const id = parseReplaces(replaces);
  if (!id) return 'Bad Replaces';
  // As the transferer holds its dialog with us: to-tag is ours, from-tag its own.
  const replaced = dialogs.find(id.callId, id.toTag, id.fromTag);
  // Another tenant's call is not there for this one, whatever it names.
  if (!replaced || replaced.call.tenantId !== call.tenantId) return 'Replaced Call Not Found';
  const other = replaced.call as Call;
  if (replaced === transferer || other === call) return 'Replaced Call Is This Call';
  // Only the transferer's own consultation: a leaked Call-ID must not let one phone take over
  // another's call.
  if (holderOf(replaced) !== holderOf(transferer)) return 'Replaced Call Not Found';
  const target = other.bridgeOf(replaced)?.peersOf(replaced)[0];
  if (!target || target.state !== 'up' || !target.dialog.state.remoteTag || other.transferring.has(target)) return 'Replaced Call Not Answered';
  return { replaced, target };
}

async function attendedTransfer(
  call: Call,
  transferer: Channel,
  transferee: Channel,
  c: Consultation,
  tx: ServerTransaction,
  dialer: Dialer,
  transfers: TransferPolicy,
): Promise<void> {
  const { target } = c;
  const d = target.dialog.state;
  const dest: Destination = {
    requestUri: d.remoteTarget,
    to: partyOf(target),
    peer: d.peer,
    target: target.init.target ?? partyOf(target).user,
    ...(target.init.account ? { account: target.init.account } : {}),
    ...(target.init.provider ? { provider: target.init.provider } : {}),
    ...(d.routeSet.length ? { route: d.routeSet } : {}),
    // As C holds its dialog with us: to-tag is C's, from-tag ours. Require: a phone that cannot
    // replace must refuse (420), not ring as a second call.
    headers: { replaces: `${d.callId};to-tag=${d.remoteTag};from-tag=${d.localTag}`, require: 'replaces' },
  };
  const other = c.replaced.call as Call;
  other.transferring.add(target);
  let succeeded = false;
  try {
    await runTransfer(call, transferer, transferee, tx, {
      // The transferee's call keeps who may transfer it.
      place: (purpose) => dialer.ringDestination(call, dest, partyOf(transferee), { timeout: RING_SECONDS, delay: 0, transfer: transferOption(transfers) }, purpose),
      report: (result, sipStatus) => {
        // C ends the consultation itself (its BYE for the replaced dialog): its leg there was handed over.
        succeeded = result === 'ok';
        if (succeeded) other.transferredAway.add(target);
        call.bus.emit({
          type: 'transfer.attended',
          tenantId: call.tenantId,
          callId: call.id,
          transferer: transferer.id,
          transferee: transferee.id,
          replaced: c.replaced.id,
          target: target.id,
          party: partyOf(target).user,
          how: 'replaces',
          result,
          ...(sipStatus ? { sipStatus } : {}),
        });
      },
    });
  } finally {
    other.transferring.delete(target);
  }
  // The transferer hung up the consultation while we tried, and C kept it: nobody is left there.
  if (!succeeded && !c.replaced.live && target.live) other.sendBye(target, 'normal', 'switch');
  other.maybeEnd();
}

interface TransferLeg {
  /** Rings the new party with `purpose`, which moves the transferee when it answers. */
  place(purpose: LegPurpose): Promise<DialResult>;
  /** The transfer event, once the outcome is known. */
  report(result: 'ok' | 'failed', sipStatus: number | undefined): void;
}

/** What every transfer does around placing its leg: 202, progress and result NOTIFYs, the move. */
async function runTransfer(call: Call, transferer: Channel, transferee: Channel, tx: ServerTransaction, leg: TransferLeg): Promise<void> {
  tx.respond(202, 'Accepted');
  call.transferring.add(transferee);
  notify(call, transferer, 'SIP/2.0 100 Trying', 'active;expires=60');

  let moved = false;
  const purpose: LegPurpose = {
    offer: async () => undefined,
    maxForwards: 70,
    answersCaller: false,
    progress: () => {},
    answered: async (newChannel, res, seq, options) => {
      // The transferred call keeps the limits it had: a leg's maxDuration applies to dials only.
      const offer = bodyOf(res);
      if (!transferee.live || !offer) return false;
      call.bridgeOf(transferee)?.pull(transferee);
      call.newBridge(transferPolicy(options.transfer), transferee, newChannel);
      newChannel.setState('up');
      moved = true;
      void reinvite(call, transferee, newChannel, offer, seq);
      return true;
    },
  };
  const result = await leg.place(purpose);
  call.transferring.delete(transferee);
  const ok = result.answered && moved;
  leg.report(ok ? 'ok' : 'failed', result.sipStatus);
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
async function reinvite(call: Call, transferee: Channel, target: Channel, offer: { type: string; content: string }, targetSeq: number): Promise<void> {
  const refuse = (why: string) => {
    // The new media cannot be set up: complete the target's handshake and end that leg.
    target.log.warn({ why }, 'transfer: the new party cannot be connected to the transferee');
    call.sendAck(target, targetSeq);
    call.sendBye(target, 'switch-error', 'switch');
  };
  let relayed: { type: string; content: string } | undefined;
  try {
    relayed = await call.media.offer(target, transferee, offer);
  } catch (err) {
    refuse(`media relay refused the offer: ${(err as Error).message}`);
    return;
  }
  const stack = call.services.stack;
  const req = transferee.dialog.request('INVITE', stack.contact(transferee.peer.transport), {}, relayed);
  const seq = req.headers.cseq!.seq;
  stack.clientTransactions.send(req, transferee.peer, {
    onFinal: (res) => {
      if (res.status >= 300) return refuse(`the transferee answered ${res.status}`);
      transferee.dialog.confirmFrom(res);
      call.sendAck(transferee, seq);
      call.media.answer(target, transferee, bodyOf(res)).then(
        (answer) => call.sendAck(target, targetSeq, answer),
        (err: Error) => refuse(`media relay refused the answer: ${err.message}`),
      );
    },
  });
}
