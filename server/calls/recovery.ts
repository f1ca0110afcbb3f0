/**
 * Resuming the calls a previous run of this node was handling (after a restart or a crash), from
 * the state persistence.ts wrote and persistedCall.ts checks: the caller's INVITE transaction (to
 * answer it, honour its CANCEL, or resend a 2xx whose ACK had not come), every dialog (to relay BYE
 * and re-INVITE), the INVITEs still ringing (they ring on as outbound legs of their own, handled as
 * any leg is) and the deadlines. The dialplan that was running is not resumed: a ringing fork ends
 * with what its legs answer, as the dial would have.
 */
import type { Logger } from 'pino';
import type { HangupCause } from './events.ts';
import { answerToCaller } from '../domain/outcomes.ts';
import type { SipRequest } from '../sip/message.ts';
import { ServerTransaction } from '../sip/transactions.ts';
import { Bridge } from './bridge.ts';
import { Call, type CallServices } from './call.ts';
import { Channel, type PendingInvite } from './channel.ts';
import { SipDialog } from './dialog.ts';
import type { Dialer } from './dialer.ts';
import type { PersistedCall } from './persistedCall.ts';
import type { TransportName } from '../sip/transport.ts';

/** Transports over which a restarted node can reach a peer again (it opens a new connection if need be). */
const canReconnect = (t: TransportName): boolean => t !== 'ws' && t !== 'wss';

/**
 * Rebuilds one call; it is live again once the caller registers it (CallService.resume). `end`: the
 * call cannot go on and is to be ended with that cause once it is registered and its audio taken
 * over (ended before, it would stay counted as live, or its ports bound after their release).
 */
export function resumeCall(state: PersistedCall, services: CallServices, dialer: Dialer, log: Logger): { call: Call; end?: HangupCause } {
  const { caller } = state;
  const invite: SipRequest = {
    method: 'INVITE',
    uri: caller.head.to.uri,
    version: '2.0',
    headers: { via: caller.head.via, from: caller.head.from, to: { ...caller.head.to, params: {} }, 'call-id': caller.head.callId, cseq: caller.head.cseq },
    content: '',
  };
  // A caller still waiting for its final answer gets it through the same transaction as before.
  const tx = ServerTransaction.resumed(caller.inviteKey, invite, caller.peer, caller.toTag, services.stack.transactions, caller.finalSent, caller.unacked2xx);
  const call = new Call(state.tenantId, tx, services, log, { id: state.callId, finalSent: caller.finalSent, lateOffer: caller.lateOffer });

  const byId = new Map<string, Channel>();
  const forks: Array<{ channel: Channel; pending: PendingInvite }> = [];
  for (const c of state.channels) {
    const channel = new Channel(
      call,
      {
        direction: c.snapshot.direction,
        dialog: new SipDialog(c.dialog),
        from: c.snapshot.from,
        to: c.snapshot.to,
        ...(c.snapshot.target ? { target: c.snapshot.target } : {}),
        ...(c.snapshot.account ? { account: c.snapshot.account } : {}),
        ...(c.snapshot.provider ? { provider: c.snapshot.provider } : {}),
        peer: c.dialog.peer,
      },
      c.snapshot,
    );
    byId.set(channel.id, channel);
    if (c.snapshot.direction === 'inbound') call.attachInbound(channel);
    else {
      call.outbound.add(channel);
      if (channel.state === 'up') services.dialogs.add(channel);
      if (c.pendingInvite) forks.push({ channel, pending: c.pendingInvite });
    }
  }
  for (const b of state.bridges) {
    const channels = b.channelIds.map((id) => byId.get(id)).filter((c): c is Channel => c !== undefined && c.live);
    if (channels.length) call.bridges.add(new Bridge(call, b.transfers, { snapshot: b, channels }));
  }
  call.resumeDeadline(state.maxUntil);
  // A leg over a WebSocket went with the previous run's connection, and nothing can open one to a
  // browser: the call cannot go on, and its other side hears so now rather than at its next request.
  const unreachable = [...byId.values()].find((c) => c.live && !canReconnect(c.peer.transport));
  if (unreachable && call.finalSent) {
    unreachable.log.info({ transport: unreachable.peer.transport }, 'call ended after the restart: its WebSocket leg has no connection any more');
    unreachable.hungUp('connection-lost', 'switch');
    services.dialogs.remove(unreachable);
    return { call, end: 'connection-lost' };
  }
  // A caller the dialplan had answered itself (answer()) and not connected to anyone yet: that
  // dialplan cannot resume mid-way, so nobody would ever speak to the caller again. It is hung up,
  // and a menu's dial still ringing is resumed only to be cancelled.
  if (caller.answeredBySwitch && call.inbound.live && !call.bridges.size) {
    call.inbound.log.info({ ringing: forks.length }, 'call ends after the restart: its dialplan had answered it and cannot resume');
    // The engine may still hold the leg it answered (rtpengine runs on): freed with the call.
    call.media.answeredBySwitch(call.inbound);
    if (forks.length) void dialer.resumeRinging(call, forks);
    return { call, end: 'switch-error' };
  }
  if (caller.unacked2xx !== undefined) {
    const pending = caller.pendingAck && byId.get(caller.pendingAck.channelId);
    call.awaitCallerAck(pending && caller.pendingAck ? { channel: pending, seq: caller.pendingAck.seq } : undefined);
  }
  if (forks.length) {
    void dialer.resumeRinging(call, forks).then((result) => {
      if (call.finalSent) return;
      const { status, reason, cause } = answerToCaller(result);
      call.reject(status, reason, cause);
    });
  } else if (!call.finalSent) {
    // The dialplan was deciding when the node stopped; it cannot be resumed mid-way.
    call.reject(500, 'Switch Restarted', 'switch-error');
  }
  return { call };
}
