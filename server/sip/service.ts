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
import type { Peer } from './transport.ts';
import { Registrar } from './registrar.ts';
import { floodLimit } from './floodLimit.ts';
import { SipStack } from './stack.ts';
import type { SipTimers } from './clientTransactions.ts';

export interface SipService {
  stack: SipStack;
  guard: AuthGuard;
  registrar: Registrar;
  auth: RequestAuthenticator;
  /** Plugs call handling in once it exists (it needs the stack to send requests). */
  route(calls: CallRouting): void;
}

/** What the B2BUA adds to the pipeline: its steps. (The ACKs of its 2xx go to their transactions.) */
export interface CallRouting {
  steps: Step[];
}

export function createSipService(
  config: Config,
  store: Store,
  log: Logger,
  metrics: Metrics,
  guardOptions: AuthGuardOptions = DEFAULT_AUTH_GUARD,
  timers?: SipTimers,
): SipService {
  const sipLog = log.child({ subsystem: 'sip' });
  const secret = config.secretKey ? Buffer.from(config.secretKey) : randomBytes(32);
  const digest = new DigestAuthenticator({ realm: config.sip.domain, secret, nonceTtlMs: config.sip.nonceTtlSeconds * 1000 });
  const guard = new AuthGuard(guardOptions);
  const auth = new RequestAuthenticator(digest, store.sipAccountLookup, guard, config.sip.digestAlgorithms, sipLog);
  const registrar = new Registrar({ ...config.sip, nodeId: config.nodeId }, auth, store.location, sipLog, metrics);
  let calls: CallRouting | undefined;
  const callSteps: Step = async (tx) => {
    for (const step of calls?.steps ?? []) if (await step(tx)) return true;
    return false;
  };
  const handler = pipeline([answerOptions, forMethod('REGISTER', (tx) => registrar.handle(tx)), callSteps, answerUnhandled]);
  const stack = new SipStack(
    {
      ...config.sip,
      admit: (source) => !guard.isIpBanned(source.address),
      admitRequest: floodLimit(config.sip.unauthenticatedPerSecond),
      ...(timers ? { timers } : {}),
    },
    handler,
    sipLog,
    metrics,
  );
  return { stack, guard, registrar, auth, route: (c) => (calls = c) };
}
