/**
 * How a provider is addressed: its domain as it appears in our SIP URIs (IPv6 bracketed, the port
 * only when given) and the next hop requests go to (its outbound proxy, else the domain).
 */
import { parseHostPort } from '../sip/hostPort.ts';
import type { Provider } from '../store/providers.ts';

/** An IPv6 literal in brackets, as SIP URIs want it; anything else as it is. */
export function bracketed(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** `host[:port]` of the provider's domain: the part after `@` in our Request-URIs and its To. */
export function providerDomain(p: Pick<Provider, 'host' | 'port'>): string {
  return `${bracketed(p.host)}${p.port ? `:${p.port}` : ''}`;
}

/** The provider itself as a SIP URI: the Request-URI of our REGISTERs and OPTIONS pings. */
export function providerUri(p: Pick<Provider, 'host' | 'port'>): string {
  return `sip:${providerDomain(p)}`;
}

/** Which host a provider's requests are sent to: its outbound proxy if it has one. */
export function nextHop(p: Provider): { host: string; port: number | null; transport: Provider['transport'] } {
  const proxy = p.outboundProxy ? parseHostPort(p.outboundProxy) : undefined;
  return proxy ? { host: proxy.host, port: proxy.port, transport: p.transport } : { host: p.host, port: p.port, transport: p.transport };
}
