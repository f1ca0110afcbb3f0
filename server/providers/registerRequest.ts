/**
 * The REGISTER that binds a provider's account to us: the one the registration agent keeps fresh
 * and the one "Test now" sends, so that a test refreshes the agent's binding and never differs
 * from it (same address of record, Contact, expiry header; a Call-ID and tag of the sender's own).
 */
import type { SipRequest } from '../sip/message.ts';
import type { SipStack } from '../sip/stack.ts';
import type { Peer } from '../sip/transport.ts';
import type { Provider } from '../store/providers.ts';
import { bracketed, providerUri } from './addressing.ts';

/** The provider account's address of record and our Contact for it over `transport`. */
export function registrationParties(stack: SipStack, p: Provider, transport: Peer['transport']): { aor: string; contact: string } {
  return {
    aor: `sip:${p.username ?? p.contactUser ?? 'anonymous'}@${bracketed(p.host)}`,
    contact: stack.contactUri(transport, p.contactUser ?? p.username ?? undefined, { line: p.lineToken }),
  };
}

export function registerRequest(
  p: Provider,
  o: { aor: string; contact: string; callId: string; fromTag: string; cseq: number; expires: number; auth?: { header: string; value: unknown } },
): SipRequest {
  return {
    method: 'REGISTER',
    uri: providerUri(p),
    version: '2.0',
    headers: {
      from: { uri: o.aor, params: { tag: o.fromTag } },
      to: { uri: o.aor, params: {} },
      'call-id': o.callId,
      cseq: { seq: o.cseq, method: 'REGISTER' },
      'max-forwards': '70',
      contact: [{ uri: o.contact, params: {} }],
      expires: String(o.expires),
      'user-agent': 'sipswitch',
      ...(o.auth ? { [o.auth.header]: o.auth.value } : {}),
    },
    content: '',
  };
}
