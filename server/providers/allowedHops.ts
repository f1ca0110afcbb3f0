/**
 * Where a request for a host may go: the addresses the resolver finds for it (RFC 3263: SRV, then
 * A/AAAA, with DNS_SERVERS), best first, keeping only those the destination policy allows. Every
 * outbound hop a tenant names (a provider's host or proxy, a SIP URI a dialplan or a transfer
 * dials) is checked here on its resolved addresses, so a name cannot smuggle a denied address in.
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

/** The allowed addresses for `query`, best first; empty (with a log line saying why) when there are none. */
export async function allowedHops(deps: HopLookup, query: SipTargetQuery, log: Logger, context: Record<string, unknown>): Promise<Peer[]> {
  let targets;
  try {
    targets = await deps.resolver.resolve(query);
  } catch (err) {
    if (!(err instanceof DnsLookupError)) throw err;
    log.warn({ ...context, host: err.hostname, kind: err.kind }, 'destination host did not resolve');
    return [];
  }
  const allowed = targets.filter((t) => !deps.policy || deps.policy.allows(t.address));
  if (!allowed.length) {
    log.warn({ ...context, host: query.host, addresses: targets.map((t) => t.address) }, 'destination resolves only to addresses this switch does not send to (DESTINATION_DENY)');
  }
  return allowed.map((t) => ({ transport: t.transport, address: t.address, port: t.port }));
}
