/** Builds the SIP side of the switch from the configuration and the store. */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Store } from '../store/index.ts';
import { AuthGuard, DEFAULT_AUTH_GUARD, type AuthGuardOptions } from './authGuard.ts';
import { RequestAuthenticator } from './authenticate.ts';
import { DigestAuthenticator } from './digest.ts';
import type { SipRequest } from './message.ts';
import { answerOptions, answerUnhandled, forMethod, pipeline, type Step } from './pipeline.ts';
import { flowKey, type AnyPeer } from './transport.ts';
import { Registrar } from './registrar.ts';
import { floodLimit } from './floodLimit.ts';
import { ProviderAddresses } from './providerAddresses.ts';
import { SipStack } from './stack.ts';
import type { SipTimers } from './clientTransactions.ts';
import { CONNECTION_BOUND_TRANSPORTS, FlowBindings } from './flowBindings.ts';
import type { CertificateStore } from './tlsCertificates.ts';
import { WebSocketEndpoint } from './webSocketEndpoint.ts';
import { BrowserSessions } from './browserSessions.ts';

export interface SipService {
  stack: SipStack;
  guard: AuthGuard;
  /** Configured providers' addresses, never banned; refreshing once started with the providers' resolver. */
  providerAddresses: ProviderAddresses;
  registrar: Registrar;
  auth: RequestAuthenticator;
  /** The portal softphone's short-lived passwords (the API issues them, the digest check accepts them). */
  browserSessions: BrowserSessions;
  /** Registrations over connections, which go when their connection closes. */
  flows: FlowBindings;
  /** SIP over WebSocket, for the HTTP servers' `upgrade` events. */
  webSocket: WebSocketEndpoint;
  /** The certificates SIP over TLS and `wss://` present, if TLS is on. */
  certificates: CertificateStore | undefined;
  /** Deletes the bindings an earlier run of this node held over connections (they are gone); call before starting. */
  forgetPreviousConnections(): Promise<void>;
  /** Plugs call handling in once it exists (it needs the stack to send requests). */
  route(calls: CallRouting): void;
}

/**
 * What the B2BUA adds to the pipeline: its steps, for requests over every transport. (The ACKs of
 * its 2xx go to their transactions.)
 */
export interface CallRouting {
  steps: Step[];
  /** A connection closed (its flow, transport.ts `flowKey`): the legs that lived on it end. */
  connectionClosed(flow: string): void;
}

export function createSipService(
  config: Config,
  store: Store,
  log: Logger,
  metrics: Metrics,
  guardOptions: AuthGuardOptions = DEFAULT_AUTH_GUARD,
  timers?: SipTimers,
  tls?: { certificates: CertificateStore; trustedCa?: string[] },
): SipService {
  const sipLog = log.child({ subsystem: 'sip' });
  const secret = config.secretKey ? Buffer.from(config.secretKey) : randomBytes(32);
  const digest = new DigestAuthenticator({ realm: config.sip.domain, secret, nonceTtlMs: config.sip.nonceTtlSeconds * 1000 });
  const providerAddresses = new ProviderAddresses(store.providers, sipLog);
  const guard = new AuthGuard(guardOptions, (ip) => providerAddresses.has(ip));
  const browserSessions = new BrowserSessions(config.sip.domain);
  const auth = new RequestAuthenticator(digest, store.sipAccountLookup, guard, config.sip.digestAlgorithms, sipLog, (ip) => providerAddresses.owners(ip), browserSessions);
  const flows = new FlowBindings(store.location, sipLog);
  const registrar = new Registrar({ ...config.sip, nodeId: config.nodeId }, auth, store.location, sipLog, metrics, flows);
  let calls: CallRouting | undefined;
  const callSteps: Step<AnyPeer> = async (tx) => {
    if (!calls) return false;
    for (const step of calls.steps) if (await step(tx)) return true;
    return false;
  };
  const handler = pipeline([answerOptions, forMethod('REGISTER', (tx) => registrar.handle(tx)), callSteps, answerUnhandled]);
  const stack = new SipStack(
    {
      ...config.sip,
      admit: (address) => !guard.isIpBanned(address),
      admitRequest: floodLimit(config.sip.unauthenticatedPerSecond, (req, source) => auth.provesSource(req, source.address)),
      ...(timers ? { timers } : {}),
      ...(tls && config.tls.sipPort !== null ? { tls: { port: config.tls.sipPort, ...tls } } : {}),
      connectionClosed: (connection) => {
        void flows.closed(connection);
        calls?.connectionClosed(flowKey(connection.peer));
      },
    },
    handler,
    sipLog,
    metrics,
  );
  const webSocket = new WebSocketEndpoint(
    { maxMessageBytes: config.sip.maxMessageBytes, allowedOrigins: config.tls.webSocketOrigins },
    stack.transport,
    (reason) => metrics.sipConnectionsRefused.inc({ reason }),
    sipLog,
  );
  const forgetPreviousConnections = async () => {
    try {
      const n = await store.location.deleteOfNode(config.nodeId, CONNECTION_BOUND_TRANSPORTS);
      if (n) sipLog.info({ removed: n }, 'registrations over connections of the previous run removed (those connections are gone)');
    } catch (err) {
      sipLog.warn({ err }, 'could not remove the registrations over connections of the previous run; they expire on their own');
    }
  };
  return {
    stack,
    guard,
    providerAddresses,
    registrar,
    auth,
    browserSessions,
    flows,
    webSocket,
    certificates: tls?.certificates,
    forgetPreviousConnections,
    route: (c) => (calls = c),
  };
}
