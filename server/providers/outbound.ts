/**
 * Where a `number@provider` leg rings: the tenant's provider entry, its next hop resolved through
 * DNS (SRV, then A/AAAA; the other addresses kept for failover), the From and headers its
 * templates make for this call, and its credentials for the one challenge the provider may send.
 */
import type { Logger } from 'pino';
import type { Destination } from '../calls/branch.ts';
import type { Party } from '../calls/events.ts';
import type { ProviderDirectory } from '../store/providers.ts';
import type { SipResolver } from './dns.ts';
import { allowedHops } from './allowedHops.ts';
import type { DestinationPolicy } from '../sip/destinationPolicy.ts';
import { CredentialKeyError } from './credentials.ts';
import { bracketed, nextHop, providerDomain } from './addressing.ts';
import { renderTemplate, type TemplateValues } from './templates.ts';
import { displayName, sipUri } from '../sip/wireValues.ts';

/** A host name or an IP address (IPv6 without brackets). */
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?|[0-9A-Fa-f:.]+)$/;

export interface ProviderLeg {
  number: string;
  provider: string;
  target: string;
  callerId?: string;
}

export interface ProviderDestinationDeps {
  directory: ProviderDirectory;
  resolver: SipResolver;
  /** Where provider requests may go; addresses outside it are skipped. */
  policy?: DestinationPolicy;
}

export async function providerDestinations(deps: ProviderDestinationDeps, tenantId: string, leg: ProviderLeg, caller: Party, log: Logger): Promise<Destination[]> {
  const p = await deps.directory.byTenantName(tenantId, leg.provider);
  if (!p || !p.enabled) {
    log.info({ provider: leg.provider }, p ? 'provider is disabled' : 'no provider of that name');
    return [];
  }
  const hop = nextHop(p);
  const [first, ...rest] = await allowedHops(deps, hop, log, { provider: p.name });
  if (!first) return [];

  const values: TemplateValues = {
    caller: leg.callerId ?? caller.user,
    callerName: caller.display ?? '',
    number: leg.number,
    username: p.username ?? '',
  };
  const fromUser = p.fromUser ? renderTemplate(p.fromUser, values) : values.caller;
  // A host template filled with a caller's value could be anything: only a host name or address stays.
  const renderedHost = p.fromHost ? renderTemplate(p.fromHost, values).trim() : p.host;
  const fromHost = HOST.test(renderedHost) ? renderedHost : p.host;
  const display = displayName(p.fromDisplay ? renderTemplate(p.fromDisplay, values) : caller.display);
  const transportParam = p.transport === 'tcp' ? ';transport=tcp' : '';
  const requestUri = `sip:${leg.number}@${providerDomain(p)}${transportParam}`;
  const headers: Record<string, string> = {};
  for (const [name, template] of Object.entries(p.headers)) headers[name.toLowerCase()] = renderTemplate(template, values);
  let password: string | null;
  try {
    password = await deps.directory.password(p);
  } catch (err) {
    if (!(err instanceof CredentialKeyError)) throw err;
    // The provider would refuse us anyway; the tenant sees why in the provider's status.
    log.error({ provider: p.name, reason: err.message }, 'provider password cannot be opened: leg not placed');
    return [];
  }
  return [
    {
      requestUri,
      to: { user: leg.number, host: p.host, uri: `sip:${leg.number}@${bracketed(p.host)}` },
      peer: first,
      alternates: rest,
      target: leg.target,
      provider: p.name,
      from: { user: fromUser, host: fromHost, uri: sipUri(fromUser, bracketed(fromHost)), ...(display ? { display } : {}) },
      headers,
      ...(p.outboundProxy ? { route: [`sip:${providerDomain(hop)};lr`] } : {}),
      ...(password !== null ? { auth: { username: p.authUsername ?? p.username ?? '', password } } : {}),
    },
  ];
}
