/**
 * Where a request for a host may go: the addresses the resolver finds for it (RFC 3263: NAPTR, SRV,
 * A/AAAA, with DNS_SERVERS), best first, keeping only those the destination policy allows. Every
 * outbound request to a host a tenant names goes through here: a provider's registrations, pings
 * and calls (its host or proxy), and a SIP URI a dialplan or a transfer dials. So a name can never
 * smuggle a denied address in, whichever request it is for.
 */
import type { Logger } from 'pino';
import type { DestinationPolicy } from '../sip/destinationPolicy.ts';
import type { Peer } from '../sip/transport.ts';
import { DnsLookupError, type SipResolver, type SipTargetQuery } from './dns.ts';

export interface HopLookup {
  resolver: SipResolver;
  /** Without one, every address is allowed. */
  policy?: DestinationPolicy;
}

/** The allowed addresses, best first; or why there are none (DNS failed, or every address is denied). */
export type Hops = { peers: [Peer, ...Peer[]] } | { failure: DnsLookupError } | { denied: string[] };

export async function resolveHops(deps: HopLookup, query: SipTargetQuery): Promise<Hops> {
  let targets;
  try {
    targets = await deps.resolver.resolve(query);
  } catch (err) {
    if (!(err instanceof DnsLookupError)) throw err;
    return { failure: err };
  }
  // Over TLS the certificate must name the host asked for (RFC 5922), not the address DNS gave.
  const serverName = query.transport === 'tls' || targets[0]?.transport === 'tls' ? query.host.replace(/^\[(.*)\]$/, '$1') : undefined;
  const peers = targets
    .filter((t) => !deps.policy || deps.policy.allows(t.address))
    .map((t): Peer => ({ transport: t.transport, address: t.address, port: t.port, ...(serverName && t.transport === 'tls' ? { serverName } : {}) }));
  return peers.length ? { peers: peers as [Peer, ...Peer[]] } : { denied: targets.map((t) => t.address) };
}

/** The allowed addresses for a call's leg, best first; empty (with a log line saying why) when there are none. */
export async function allowedHops(deps: HopLookup, query: SipTargetQuery, log: Logger, context: Record<string, unknown>): Promise<Peer[]> {
  const hops = await resolveHops(deps, query);
  if ('peers' in hops) return hops.peers;
  if ('failure' in hops) log.warn({ ...context, host: hops.failure.hostname, kind: hops.failure.kind }, 'destination host did not resolve');
  else log.warn({ ...context, host: query.host, addresses: hops.denied }, 'destination resolves only to addresses this switch does not send to (DESTINATION_DENY)');
  return [];
}
