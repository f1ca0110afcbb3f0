/**
 * "Test now" for a provider that registers: one REGISTER exchange at once, as the registration
 * agent makes it (the same Contact with the entry's line token, the same credentials), answering a
 * digest challenge once, and what came of it with every message sent and received, for the
 * portal's ladder. It has a Call-ID of its own and the provider's configured expiry: a registrar
 * that accepts it holds the same binding the agent keeps (same Contact), refreshed, so testing
 * never removes the provider's registration. It changes nothing in the agent's state either: the
 * agent goes on by its own schedule. A disabled provider, which the agent does not register, has
 * the test's binding removed again at once (Expires: 0).
 */
import type { TracedMessage } from '../../contract/callTrace.ts';
import type { RegisterTestView } from '../../contract/providerTest.ts';
import { answerChallenge, readChallenge } from '../sip/digestClient.ts';
import { headerInt, serialize, type SipRequest, type SipResponse } from '../sip/message.ts';
import { randomToken } from '../sip/random.ts';
import type { SipStack } from '../sip/stack.ts';
import type { DestinationPolicy } from '../sip/destinationPolicy.ts';
import type { Provider, ProviderDirectory } from '../store/providers.ts';
import { nextHop, providerUri } from './addressing.ts';
import { registerRequest, registrationParties } from './registerRequest.ts';
import { resolveHops } from './allowedHops.ts';
import { CredentialKeyError } from './credentials.ts';
import type { SipResolver } from './dns.ts';

export type RegisterTestResult = RegisterTestView;

export interface RegisterTestDeps {
  directory: ProviderDirectory;
  resolver: SipResolver;
  stack: SipStack;
  policy: DestinationPolicy;
}

/** Responses our own transaction layer makes up when nothing answered. */
const silent = (res: SipResponse) => res.status === 408 || (res.status === 503 && res.reason === 'Destination Unreachable');

export async function testRegister(deps: RegisterTestDeps, p: Provider): Promise<RegisterTestResult> {
  const nothing = (detail: string): RegisterTestResult => ({ registered: false, steps: [], authenticated: false, expires: null, detail, rttMs: null, removed: null, messages: [] });
  const hop = nextHop(p);
  const hops = await resolveHops(deps, hop);
  if ('failure' in hops) return nothing(`DNS lookup of ${hops.failure.hostname} failed (${hops.failure.kind})`);
  if ('denied' in hops) return nothing(`${hop.host} has no address this switch sends to`);
  let password: string | null;
  try {
    password = await deps.directory.password(p);
  } catch (err) {
    if (!(err instanceof CredentialKeyError)) throw err;
    return nothing(`the stored password cannot be opened (${err.message})`);
  }
  const peer = hops.peers[0]!;
  const callId = `${randomToken(12)}@regtest`;
  const fromTag = randomToken(8);
  const { aor, contact } = registrationParties(deps.stack, p, peer.transport);
  const messages: TracedMessage[] = [];
  const trace = (direction: TracedMessage['direction'], at: number, m: SipRequest | SipResponse) => {
    const text = serialize(m)?.toString('utf8');
    if (text !== undefined) messages.push({ at, direction, peer, sipCallId: callId, firstLine: text.slice(0, text.indexOf('\r\n')), text });
  };
  let cseq = 0;
  const send = async (expires: number, auth?: { header: string; value: unknown }): Promise<SipResponse> => {
    const req = registerRequest(p, { aor, contact, callId, fromTag, cseq: ++cseq, expires, ...(auth ? { auth } : {}) });
    const sentAt = Date.now();
    const res = await new Promise<SipResponse>((resolve) => deps.stack.clientTransactions.send(req, peer, { onFinal: resolve }));
    trace('out', sentAt, req);
    if (!silent(res)) trace('in', Date.now(), res);
    return res;
  };
  /** One REGISTER asking for `expires`, answering a digest challenge once: the answers, and the last (undefined: silence). */
  const exchange = async (expires: number) => {
    const steps: string[] = [];
    let authenticated = false;
    let res = await send(expires);
    if ((res.status === 401 || res.status === 407) && !silent(res)) {
      steps.push(`${res.status} ${res.reason}`);
      const challenge = readChallenge(res);
      if (!challenge) return { steps, authenticated, res, problem: `${res.status} ${res.reason} without a digest challenge this switch can answer` };
      if (password === null) return { steps, authenticated, res, problem: `${res.status} ${res.reason}: the provider asks for a password and none is set` };
      authenticated = true;
      res = await send(expires, {
        header: challenge.header,
        value: [answerChallenge(challenge, { username: p.authUsername ?? p.username ?? '', password }, 'REGISTER', providerUri(p), { nonceCount: 1 })],
      });
    }
    if (silent(res)) return { steps, authenticated, res: undefined, problem: `${hop.host} did not answer REGISTER` };
    steps.push(`${res.status} ${res.reason}`);
    return { steps, authenticated, res, problem: undefined };
  };

  const started = Date.now();
  const tried = await exchange(p.registerExpires);
  const rttMs = Date.now() - started;
  if (tried.problem !== undefined || !tried.res) {
    return { registered: false, steps: tried.steps, authenticated: tried.authenticated, expires: null, detail: tried.problem ?? '', rttMs: null, removed: null, messages };
  }
  const res = tried.res;
  const registered = res.status >= 200 && res.status < 300;
  // A disabled provider is not registered by the agent: the test leaves no binding behind.
  let removed: boolean | null = null;
  if (registered && !p.enabled) {
    const undone = await exchange(0);
    removed = undone.res !== undefined && undone.res.status >= 200 && undone.res.status < 300;
  }
  return {
    registered,
    steps: tried.steps,
    authenticated: tried.authenticated,
    expires: registered ? grantedExpires(res, p) : null,
    detail: `${res.status} ${res.reason}`,
    rttMs,
    removed,
    messages,
  };
}

/** The expiry granted our Contact: its `expires` parameter, else the Expires header, else what we asked. */
function grantedExpires(res: SipResponse, p: Provider): number {
  const contacts = Array.isArray(res.headers.contact) ? res.headers.contact : [];
  const ours = contacts.find((c) => c.uri.includes(`line=${p.lineToken}`));
  const value = ours?.params.expires ? Number(ours.params.expires) : headerInt(res, 'expires');
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : p.registerExpires;
}
