/**
 * The provider subsystem of one node: DNS resolution of provider hosts, the registration agent,
 * and what the API, the dialer and incoming-call routing need from it.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { SipStack } from '../sip/stack.ts';
import type { DestinationPolicy } from '../sip/destinationPolicy.ts';
import type { Provider, ProviderDirectory, ProviderStatus } from '../store/providers.ts';
import { DnsSipResolver, type SipResolver } from './dns.ts';
import { RegistrationAgent, type RegistrationAgentOptions } from './registrationAgent.ts';
import type { RegistrationLeases } from './registrationLeases.ts';
import { ProviderHealthMonitor, type ProviderHealth } from './health.ts';

export interface ProviderServiceOptions extends RegistrationAgentOptions {
  dnsServers: string[];
  dnsTimeoutMs: number;
  /** How often every enabled provider is pinged with OPTIONS. */
  pingIntervalMs: number;
}

/** What the API needs of the provider subsystem. */
export interface ProviderControl {
  /** The registration state the agent holds now (fresher than the store's copy). */
  status(providerId: string): ProviderStatus | undefined;
  /** Whether the provider answered its last OPTIONS ping. */
  health(providerId: string): ProviderHealth | undefined;
  /** Pings the provider now: its health, and the OPTIONS exchange as messages. */
  testNow(p: Provider): ReturnType<ProviderHealthMonitor['testNow']>;
  /** A provider was created, changed or deleted. */
  changed(providerId: string): Promise<void>;
  /** The SIP URI a provider should send this entry's calls to. */
  contactUri(p: Provider): string;
}

export interface ProviderService extends ProviderControl {
  /** For the dialer (outbound legs) and incoming-call routing: the entries and the resolver of their hosts. */
  readonly calls: { directory: ProviderDirectory; resolver: SipResolver };
  readonly agent: RegistrationAgent;
  stop(): void;
}

export async function startProviderService(deps: {
  directory: ProviderDirectory;
  stack: SipStack;
  log: Logger;
  registry: Registry;
  options: ProviderServiceOptions;
  onStatus?: (status: ProviderStatus) => void;
  onHealth?: (health: ProviderHealth) => void;
  resolver?: SipResolver;
  policy: DestinationPolicy;
  /** Which providers this node registers (a cluster's leases); all of them without. */
  leases?: RegistrationLeases;
}): Promise<ProviderService> {
  const { directory, stack, options } = deps;
  const resolver = deps.resolver ?? new DnsSipResolver({ ...(options.dnsServers.length ? { servers: options.dnsServers } : {}), timeoutMs: options.dnsTimeoutMs });
  const agent = new RegistrationAgent({
    directory,
    resolver,
    stack,
    log: deps.log,
    registry: deps.registry,
    options,
    policy: deps.policy,
    ...(deps.onStatus ? { onStatus: deps.onStatus } : {}),
    ...(deps.leases ? { leases: deps.leases } : {}),
  });
  await agent.start();
  const monitor = new ProviderHealthMonitor({
    directory,
    resolver,
    stack,
    policy: deps.policy,
    log: deps.log,
    registry: deps.registry,
    intervalMs: options.pingIntervalMs,
    ...(deps.onHealth ? { onChange: deps.onHealth } : {}),
  });
  await monitor.start();
  return {
    calls: { directory, resolver },
    agent,
    status: (id) => agent.status(id),
    health: (id) => monitor.health(id),
    testNow: (p) => monitor.testNow(p),
    changed: async (id) => {
      directory.invalidate();
      await Promise.all([agent.reload(id), monitor.reload(id)]);
    },
    contactUri: (p: Provider) => stack.contactUri(p.transport, p.contactUser ?? p.username ?? undefined, { line: p.lineToken }),
    stop: () => {
      monitor.stop();
      agent.stop();
    },
  };
}
