/**
 * A caller the dialplan answered itself (answer()) and then connected to a party a dial reached (a
 * menu's choice): the caller got the switch's SDP in our 200, and the relay's answer for it from
 * the callee's SDP may say the same (both engines keep the caller's port) or not (the callee chose
 * other codecs). Only then is the caller offered the callee's audio again, in a re-INVITE.
 */
import type { Call } from './call.ts';
import type { Channel } from './channel.ts';
import { bodyOf } from './dialog.ts';

/** The parts of an SDP that decide where and how the phone sends: the address, the port and the codecs of its audio. */
function audioOf(sdp: string): string {
  const lines = sdp.split(/\r?\n/);
  const m = lines.findIndex((l) => l.startsWith('m=audio '));
  if (m < 0) return '';
  const connection = lines.slice(m).find((l) => l.startsWith('c=')) ?? lines.slice(0, m).find((l) => l.startsWith('c=')) ?? '';
  const rtpmaps = lines
    .slice(m + 1)
    .filter((l) => l.startsWith('a=rtpmap:'))
    .map((l) => l.toLowerCase())
    .sort();
  return [lines[m]!.trim(), connection.trim(), ...rtpmaps].join('\n');
}

/** Whether the caller, given `given`, would send and receive the same way with `next`. */
export function sameAudio(given: string, next: string): boolean {
  return audioOf(given) === audioOf(next);
}

/**
 * Offers the caller the callee's audio (a re-INVITE from the switch, as a re-INVITE from the
 * callee would come through the relay); the caller's answer goes through the relay too. A caller
 * that refuses keeps what it has: the call goes on, logged.
 */
export async function reofferCaller(call: Call, callee: Channel, calleeSdp: { type: string; content: string }): Promise<void> {
  const caller = call.inbound;
  await call.callerAck();
  let offer: { type: string; content: string } | undefined;
  try {
    offer = await call.media.offer(callee, caller, calleeSdp);
  } catch (err) {
    caller.log.warn({ err: (err as Error).message }, "media relay refused the callee's audio for the caller's re-INVITE: the caller keeps the switch's");
    return;
  }
  if (!caller.live) return;
  const stack = call.services.stack;
  const req = caller.dialog.request('INVITE', stack.contact(caller.peer.transport), {}, offer);
  const seq = req.headers.cseq!.seq;
  stack.clientTransactions.send(req, caller.peer, {
    onFinal: (res) => {
      if (res.status >= 300) {
        caller.log.warn({ status: res.status }, "the caller refused the re-INVITE with the callee's audio");
        return;
      }
      caller.dialog.confirmFrom(res);
      call.sendAck(caller, seq);
      call.media.answer(callee, caller, bodyOf(res)).catch((err: Error) => caller.log.warn({ err: err.message }, "media relay refused the caller's answer to the re-INVITE"));
    },
  });
}
