/**
 * Which tenant's provider entry an incoming INVITE comes from. Only something one tenant provably
 * holds names a tenant: the line token of the Contact we register for its entry (unique, random),
 * one of its accounts (usernames are unique on the switch), or a number (DID) its entry holds
 * (unique too, refused to anyone else when saved). Source addresses never name a tenant: anyone
 * may list a shared carrier's addresses, or all of them; they only confirm that a call naming a
 * tenant really comes from that tenant's provider. A call that names two tenants at once is not
 * guessed at: it is refused.
 */
import { BlockList, isIP } from 'node:net';
import type { SipUri } from '../sip/message.ts';
import type { Peer } from '../sip/transport.ts';
import { decodeUser } from '../sip/wireValues.ts';
import type { Provider, ProviderDirectory } from '../store/providers.ts';

/** What recognising a provider's call reads of the provider entries. */
export type ProviderLookup = Pick<ProviderDirectory, 'byLineToken' | 'withSourceAddresses' | 'byNumber'>;

export type LineMatch = { kind: 'provider'; provider: Provider } | { kind: 'unknown-line' } | { kind: 'none' };

function sourceList(p: Provider): BlockList {
  const list = new BlockList();
  for (const entry of p.sourceAddresses) {
    const [address, bits] = entry.split('/');
    const family = isIP(address ?? '') === 6 ? 'ipv6' : 'ipv4';
    if (bits !== undefined) list.addSubnet(address!, Number(bits), family);
    else list.addAddress(address!, family);
  }
  return list;
}

const lists = new WeakMap<Provider, BlockList>();

function fromSource(p: Provider, source: Peer): boolean {
  let list = lists.get(p);
  if (!list) lists.set(p, (list = sourceList(p)));
  return list.check(source.address, isIP(source.address) === 6 ? 'ipv6' : 'ipv4');
}

/** The entry the Request-URI's line token names; a token that names no enabled entry is unknown. */
export async function providerByLine(directory: ProviderLookup, requestUri: SipUri | undefined): Promise<LineMatch> {
  const line = requestUri?.params.line;
  if (!line) return { kind: 'none' };
  const p = await directory.byLineToken(line);
  return p && p.enabled ? { kind: 'provider', provider: p } : { kind: 'unknown-line' };
}

/** A number as the directory keeps it (digits only), or undefined when `user` is not one. */
export function asNumber(user: string | undefined): string | undefined {
  const digits = user?.replace(/^\+/, '');
  return digits && /^\d{6,16}$/.test(digits) ? digits : undefined;
}

export type SourceMatch = { kind: 'provider'; provider: Provider } | { kind: 'ambiguous'; tenants: string[] } | { kind: 'none' };

export interface SourceClaims {
  /** The tenant whose account the Request-URI names, if it names one. */
  accountTenant?: string;
  /** The user part of the To header (a carrier may put the number called there). */
  toUser?: string;
}

/**
 * The entry a call without a line token comes from. The tenants the call names are: the one whose
 * account the Request-URI names, and the holders of the numbers in the Request-URI and in To whose
 * entry lists the source address (a number's holder is vouched for only by its own entry). Naming
 * more than one tenant is ambiguous. A number's entry takes the call; otherwise the account's
 * tenant does, through its oldest entry listing the source; otherwise it is no provider's call.
 */
export async function providerBySource(directory: ProviderLookup, requestUri: SipUri | undefined, source: Peer, claims: SourceClaims = {}): Promise<SourceMatch> {
  const listing = (await directory.withSourceAddresses()).filter((p) => fromSource(p, source));
  if (!listing.length) return { kind: 'none' };
  const numbers = [asNumber(requestUri?.user ? decodeUser(requestUri.user) : undefined), asNumber(claims.toUser)];
  const holders: Provider[] = [];
  for (const number of new Set(numbers.filter((n): n is string => n !== undefined))) {
    const holder = await directory.byNumber(number);
    if (holder && listing.some((p) => p.id === holder.id)) holders.push(holder);
  }
  const tenants = new Set([...(claims.accountTenant ? [claims.accountTenant] : []), ...holders.map((h) => h.tenantId)]);
  if (tenants.size > 1) return { kind: 'ambiguous', tenants: [...tenants] };
  if (holders[0]) return { kind: 'provider', provider: holders[0] };
  const own = listing.filter((p) => p.tenantId === claims.accountTenant).sort((a, b) => a.createdAt - b.createdAt);
  return own[0] ? { kind: 'provider', provider: own[0] } : { kind: 'none' };
}
