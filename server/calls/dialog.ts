/**
 * One SIP dialog as the switch sees it (RFC 3261 §12): the switch is always one end, the phone or
 * provider the other. Builds in-dialog requests and knows where to send them. Plain data, so it can
 * be persisted and rebuilt after a restart.
 */
import { randomToken } from '../sip/random.ts';
import { stringifyUri, type Headers, type NameAddr, type SipRequest, type SipResponse, type SipUri } from '../sip/message.ts';
import type { Peer } from '../sip/transport.ts';

export interface DialogState {
  callId: string;
  localTag: string;
  remoteTag: string | null;
  /** Our address-of-record in this dialog (From of our requests). */
  localUri: string;
  /** Theirs (To of our requests). */
  remoteUri: string;
  localSeq: number;
  remoteSeq: number;
  /** The remote Contact: the Request-URI of our in-dialog requests. */
  remoteTarget: string;
  routeSet: string[];
  /** Where the other end really is (its source address, NAT-safe), and over which transport. */
  peer: Peer;
}

const nameAddr = (uri: string, tag?: string | null): NameAddr => ({ uri, params: tag ? { tag } : {} });

export function newCallId(): string {
  return `${randomToken(12)}@sipswitch`;
}

export function newLocalTag(): string {
  return randomToken(6);
}

export class SipDialog {
  constructor(readonly state: DialogState) {}

  /** The dialog a received initial INVITE creates on our (UAS) side. */
  static asUas(invite: SipRequest, localTag: string, peer: Peer): SipDialog {
    const h = invite.headers;
    const contact = Array.isArray(h.contact) ? h.contact[0]?.uri : undefined;
    return new SipDialog({
      callId: h['call-id']!,
      localTag,
      remoteTag: h.from!.params.tag ?? null,
      localUri: h.to!.uri,
      remoteUri: h.from!.uri,
      localSeq: 1,
      remoteSeq: h.cseq!.seq,
      remoteTarget: contact ?? h.from!.uri,
      routeSet: routesOf(h['record-route']),
      peer,
    });
  }

  get key(): string {
    return dialogKey(this.state.callId, this.state.localTag, this.state.remoteTag ?? '');
  }

  /** UAC side: the 2xx (or an early 1xx) fixes the remote tag, target and route set (§12.1.2). */
  confirmFrom(res: SipResponse): void {
    const h = res.headers;
    this.state.remoteTag = h.to?.params.tag ?? this.state.remoteTag;
    const contact = Array.isArray(h.contact) ? h.contact[0]?.uri : undefined;
    if (contact) this.state.remoteTarget = contact;
    const rr = routesOf(h['record-route']);
    if (rr.length) this.state.routeSet = rr.reverse();
  }

  /** A request within the dialog, e.g. BYE or re-INVITE (§12.2.1.1). Via is added when it is sent. */
  request(method: string, contact: string, extra: Headers = {}, body?: { type: string; content: string }): SipRequest {
    const s = this.state;
    const seq = method === 'ACK' || method === 'CANCEL' ? s.localSeq : ++s.localSeq;
    const headers: Headers = {
      from: nameAddr(s.localUri, s.localTag),
      to: nameAddr(s.remoteUri, s.remoteTag),
      'call-id': s.callId,
      cseq: { seq, method },
      'max-forwards': '70',
      ...(s.routeSet.length ? { route: s.routeSet.map((uri) => nameAddr(uri)) } : {}),
      ...(method === 'ACK' || method === 'BYE' || method === 'CANCEL' ? {} : { contact: [{ uri: contact.replace(/^<|>$/g, ''), params: {} }] }),
      ...extra,
    };
    if (body) headers['content-type'] = body.type;
    return { method, uri: s.remoteTarget, version: '2.0', headers, content: body?.content ?? '' };
  }

  /** ACK for a 2xx to the INVITE with CSeq `seq` (§13.2.2.4): same CSeq number, new transaction. */
  ack(seq: number, contact: string, body?: { type: string; content: string }): SipRequest {
    const req = this.request('ACK', contact, {}, body);
    req.headers.cseq = { seq, method: 'ACK' };
    return req;
  }
}

export function dialogKey(callId: string, localTag: string, remoteTag: string): string {
  return `${callId}\n${localTag}\n${remoteTag}`;
}

/** Record-Route values as URI strings (the parser hands them over as parsed URIs). */
function routesOf(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  return (v as Array<{ uri: string | SipUri }>).map((r) => (typeof r.uri === 'string' ? r.uri : stringifyUri(r.uri)));
}

export function bodyOf(m: { headers: Headers; content: string }): { type: string; content: string } | undefined {
  const type = m.headers['content-type'];
  return m.content && typeof type === 'string' ? { type, content: m.content } : undefined;
}
