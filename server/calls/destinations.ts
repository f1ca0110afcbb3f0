/**
 * Where every outbound request of a call goes: the one resolver for a dial leg, whatever it names.
 * An account rings each phone registered to it, at the address its REGISTER came from (NAT-safe;
 * not a tenant's choice, so not checked against the deny list); a number at a provider goes to the
 * provider's next hop with the From, headers and credentials its settings make for this call; a SIP
 * URI goes where RFC 3263 resolution of its host says. Provider and URI hosts both resolve through
 * the same resolver (SRV then A/AAAA, DNS_SERVERS) and only to addresses the deny list allows
 * (allowedHops), the others kept for failover. Transfers reach here too, through the dialplan that
 * routes them.
 */
import type { Logger } from 'pino';
import type { DialLeg } from '../dialplan/types.ts';
import { allowedHops, type HopLookup } from '../providers/allowedHops.ts';
import type { SipTransport } from '../providers/dns.ts';
import { bracketed, nextHop, providerDomain } from '../providers/addressing.ts';
import { CredentialKeyError } from '../providers/credentials.ts';
import { renderTemplate, type TemplateValues } from '../providers/templates.ts';
import type { DigestCredentials } from '../sip/digestClient.ts';
import { peerOfBinding } from '../sip/flowBindings.ts';
import { pathHop } from '../sip/frontDoor.ts';
import { isHost } from '../sip/hostPort.ts';
import type { Peer } from '../sip/transport.ts';
import { decodeUser, displayName, sipUri, targetUri } from '../sip/wireValues.ts';
import type { ProviderDirectory } from '../store/providers.ts';
import type { LocationStore } from '../store/registrations.ts';
import type { SipAccount } from '../store/sipAccounts.ts';
import type { Party } from './events.ts';

export interface Destination {
  /** Request-URI: the registered contact or the dialled URI. */
  requestUri: string;
  /** To: the address-of-record being called. */
  to: Party;
  peer: Peer;
  /** The dial-string form of the leg this destination belongs to. */
  target: string;
  account?: string;
  /** The provider this leg goes through (its name), for records and logs. */
  provider?: string;
  /** From for this leg when the destination decides it (a provider's From templates). */
  from?: Party;
  /** Extra headers the destination adds (a provider's header templates), lower-cased names. */
  headers?: Record<string, string>;
  /** Preloaded route (a provider's outbound proxy). */
  route?: string[];
  /** Credentials for answering one 401/407 (a provider leg); the dialplan never sees them. */
  auth?: DigestCredentials;
  /** Further addresses to try in order when this one fails to answer or is unavailable (DNS SRV/A). */
  alternates?: Peer[];
  /**
   * A server that says nothing at all (not even 100 Trying) within FAILOVER_AFTER_MS is given up
   * on, so the dial's next route is tried instead of holding the caller for the whole ring time
   * (providers, SIP URIs; a phone may be slow to wake and rings as long as it is allowed).
   */
  giveUpWhenSilent?: boolean;
}

export interface DestinationDeps {
  domain: string;
  location: LocationStore;
  /** An account by its switch-wide username (any tenant's: the resolver checks whose it is). */
  account(username: string): Promise<SipAccount | null>;
  /** The providers' entries; without them `number@provider` legs have nowhere to ring. */
  providers?: ProviderDirectory;
  /** How hosts are resolved, and which addresses requests may go to. */
  hops: HopLookup;
}

export class DestinationResolver {
  constructor(private readonly deps: DestinationDeps) {}

  /** Where a leg rings; empty (with a log line saying why) when it has nowhere to ring. */
  forLeg(leg: DialLeg, tenantId: string, caller: Party, log: Logger): Promise<Destination[]> {
    switch (leg.kind) {
      case 'account':
        return this.phones(leg, tenantId);
      case 'uri':
        return this.uri(leg, log);
      case 'provider':
        return this.provider(leg, tenantId, caller, log);
    }
  }

  /** Whether `username` is an account of the tenant at all (registered or not): a leg naming nobody is a 404, not an absent phone. */
  async isAccount(username: string, tenantId: string): Promise<boolean> {
    const account = await this.deps.account(username);
    return account !== null && account.tenantId === tenantId;
  }

  /** Every phone registered to the account, if it is the tenant's own (another tenant's is not there). */
  private async phones(leg: Extract<DialLeg, { kind: 'account' }>, tenantId: string): Promise<Destination[]> {
    const account = await this.deps.account(leg.account);
    if (!account || !account.enabled || account.tenantId !== tenantId) return [];
    const to: Party = { user: account.username, host: this.deps.domain, uri: sipUri(account.username, this.deps.domain) };
    const bindings = await this.deps.location.bindings(account.id, Date.now());
    return bindings.map((b) => ({
      requestUri: b.contactUri,
      to,
      // NAT: the phone is reached where its REGISTER came from, not where its Contact claims; through
      // a front door (Kamailio), along the Path its REGISTER came by.
      peer: (b.path && pathHop(b.path)) ?? peerOfBinding(b),
      ...(b.path?.length ? { route: b.path } : {}),
      target: leg.target,
      account: account.username,
    }));
  }

  /**
   * A SIP or SIPS URI, without maddr or URI headers. `sips:` and `;transport=tls` go over TLS
   * (checking the host's certificate); WebSocket transports are refused: only a browser's own
   * connection reaches it, and that is a registration, not a URI.
   */
  private async uri(leg: Extract<DialLeg, { kind: 'uri' }>, log: Logger): Promise<Destination[]> {
    const target = targetUri(leg.uri);
    const schema = target?.parsed.schema.toLowerCase();
    const transport = target ? uriTransport(schema, target.parsed.params.transport?.toLowerCase()) : null;
    if (!target || transport === null) {
      log.info({ target: leg.target }, 'dial leg is not a SIP URI this switch can call');
      return [];
    }
    const { parsed, uri } = target;
    const host = parsed.host.replace(/^\[|\]$/g, '');
    const [first, ...alternates] = await allowedHops(this.deps.hops, { host, port: parsed.port || null, ...(transport ? { transport } : {}) }, log, { target: leg.target });
    if (!first) return [];
    const user = parsed.user ? decodeUser(parsed.user) : '';
    return [{ requestUri: uri, to: { user, host: parsed.host, uri }, peer: first, alternates, target: leg.target, giveUpWhenSilent: true }];
  }

  /**
   * A number at one of the tenant's providers: its next hop, the From and headers its templates
   * make for this call, its credentials for the one challenge the provider may send.
   */
  private async provider(leg: Extract<DialLeg, { kind: 'provider' }>, tenantId: string, caller: Party, log: Logger): Promise<Destination[]> {
    const directory = this.deps.providers;
    const p = directory ? await directory.byTenantName(tenantId, leg.provider) : null;
    if (!directory || !p || !p.enabled) {
      log.info({ provider: leg.provider }, p ? 'provider is disabled' : 'no provider of that name');
      return [];
    }
    const hop = nextHop(p);
    const [first, ...rest] = await allowedHops(this.deps.hops, hop, log, { provider: p.name });
    if (!first) return [];

    const values: TemplateValues = {
      caller: leg.options.callerId ?? caller.user,
      callerName: caller.display ?? '',
      number: leg.number,
      username: p.username ?? '',
    };
    const fromUser = p.fromUser ? renderTemplate(p.fromUser, values) : values.caller;
    // A host template filled with a caller's value could be anything: only a host name or address stays.
    const renderedHost = p.fromHost ? renderTemplate(p.fromHost, values).trim() : p.host;
    const fromHost = isHost(renderedHost) ? renderedHost : p.host;
    const display = displayName(p.fromDisplay ? renderTemplate(p.fromDisplay, values) : caller.display);
    const transportParam = p.transport === 'tcp' ? ';transport=tcp' : '';
    const requestUri = `sip:${leg.number}@${providerDomain(p)}${transportParam}`;
    const headers: Record<string, string> = {};
    for (const [name, template] of Object.entries(p.headers)) headers[name.toLowerCase()] = renderTemplate(template, values);
    let password: string | null;
    try {
      password = await directory.password(p);
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
        giveUpWhenSilent: true,
        target: leg.target,
        provider: p.name,
        from: { user: fromUser, host: fromHost, uri: sipUri(fromUser, bracketed(fromHost)), ...(display ? { display } : {}) },
        headers,
        ...(p.outboundProxy ? { route: [`sip:${providerDomain(hop)};lr`] } : {}),
        ...(password !== null ? { auth: { username: p.authUsername ?? p.username ?? '', password } } : {}),
      },
    ];
  }
}

/**
 * The transport a URI asks for: `sips:` means TLS; `;transport=` names one; without either RFC 3263
 * chooses (undefined). null: one this switch cannot open (WebSocket, SCTP) or not a SIP URI.
 */
function uriTransport(schema: string | undefined, named: string | undefined): SipTransport | undefined | null {
  if (schema === 'sips') return named === undefined || named === 'tls' || named === 'tcp' ? 'tls' : null;
  if (schema !== 'sip') return null;
  if (named === undefined) return undefined;
  return named === 'udp' || named === 'tcp' || named === 'tls' ? named : null;
}
