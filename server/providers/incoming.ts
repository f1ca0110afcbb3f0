/**
 * Which provider entry an incoming INVITE comes from. The Contact we register carries the entry's
 * line token (`;line=`), which providers put in the Request-URI of the calls they send us: that
 * names one tenant's entry even when several tenants use the same provider. Providers that do not
 * register are recognised by the source addresses their entry lists; when the same address belongs
 * to several tenants' entries and the Request-URI does not tell them apart, no guess is made.
 */
import { BlockList, isIP } from 'node:net';
import type { SipUri } from '../sip/message.ts';
import type { Peer } from '../sip/transport.ts';
import type { Provider, ProviderDirectory } from '../store/providers.ts';

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
export async function providerByLine(directory: ProviderDirectory, requestUri: SipUri | undefined): Promise<LineMatch> {
  const line = requestUri?.params.line;
  if (!line) return { kind: 'none' };
  const p = await directory.byLineToken(line);
  return p && p.enabled ? { kind: 'provider', provider: p } : { kind: 'unknown-line' };
}

/**
 * The entry whose listed addresses the INVITE comes from. `addressedTenant` is the tenant whose
 * account the Request-URI names, if it names one: only that tenant's entries are considered, so an
 * entry listing a broad range cannot take calls meant for another tenant's accounts.
 */
export async function providerBySource(directory: ProviderDirectory, requestUri: SipUri | undefined, source: Peer, addressedTenant?: string): Promise<Provider | undefined> {
  const candidates = (await directory.withSourceAddresses()).filter((p) => (addressedTenant === undefined || p.tenantId === addressedTenant) && fromSource(p, source));
  if (candidates.length <= 1) return candidates[0];
  const user = requestUri?.user ? decodeURIComponent(requestUri.user) : undefined;
  const named = candidates.filter((p) => user !== undefined && (p.contactUser === user || p.username === user));
  return named.length === 1 ? named[0] : undefined;
}
