/** Builds the SIP side of the switch from the configuration and the store. */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Store } from '../store/index.ts';
import { AuthGuard, DEFAULT_AUTH_GUARD, type AuthGuardOptions } from './authGuard.ts';
import { RequestAuthenticator } from './authenticate.ts';
import { DigestAuthenticator } from './digest.ts';
import { answerOptions, answerUnhandled, forMethod, pipeline } from './pipeline.ts';
import { Registrar } from './registrar.ts';
import { SipStack } from './stack.ts';

export interface SipService {
  stack: SipStack;
  guard: AuthGuard;
  registrar: Registrar;
}

export function createSipService(
  config: Config,
  store: Store,
  log: Logger,
  metrics: Metrics,
  guardOptions: AuthGuardOptions = DEFAULT_AUTH_GUARD,
): SipService {
  const sipLog = log.child({ subsystem: 'sip' });
  const secret = config.secretKey ? Buffer.from(config.secretKey) : randomBytes(32);
  const digest = new DigestAuthenticator({ realm: config.sip.domain, secret, nonceTtlMs: config.sip.nonceTtlSeconds * 1000 });
  const guard = new AuthGuard(guardOptions);
  const auth = new RequestAuthenticator(digest, store.sipAccountLookup, guard, config.sip.digestAlgorithms, sipLog);
  const registrar = new Registrar({ ...config.sip, nodeId: config.nodeId }, auth, store.location, sipLog, metrics);
  const handler = pipeline([answerOptions, forMethod('REGISTER', (tx) => registrar.handle(tx)), answerUnhandled]);
  const stack = new SipStack(
    { ...config.sip, admit: (source) => !guard.isIpBanned(source.address) },
    handler,
    () => {},
    sipLog,
    metrics,
  );
  return { stack, guard, registrar };
}
