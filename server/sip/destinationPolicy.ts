/**
 * Where tenants may make the switch send SIP: their dialplans name SIP URIs and their providers
 * name hosts, and neither may point the switch at itself or at addresses inside its own network
 * (loopback, link-local such as cloud metadata services, multicast). Phones are reached at the
 * address they registered from, which is not a tenant's choice, so they are not checked here.
 */
import { BlockList, isIP } from 'node:net';

export const DEFAULT_DENIED_DESTINATIONS = ['0.0.0.0/8', '127.0.0.0/8', '169.254.0.0/16', '224.0.0.0/4', '255.255.255.255/32', '::/128', '::1/128', 'fe80::/10', 'ff00::/8'];

export class DestinationPolicy {
  private readonly denied = new BlockList();

  constructor(readonly deniedRanges: readonly string[]) {
    for (const range of deniedRanges) {
      const [address, bits] = range.split('/');
      const family = isIP(address ?? '') === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.denied.addAddress(address!, family);
      else this.denied.addSubnet(address!, Number(bits), family);
    }
  }

  allows(address: string): boolean {
    const family = isIP(address);
    if (!family) return false;
    return !this.denied.check(address, family === 6 ? 'ipv6' : 'ipv4');
  }
}

/** Parses `DESTINATION_DENY`: CIDR blocks or addresses, comma-separated; `none` allows everything. */
export function parseDeniedRanges(text: string): string[] | string {
  if (text.trim().toLowerCase() === 'none') return [];
  const ranges = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const r of ranges) {
    const [address, bits, extra] = r.split('/');
    const family = isIP(address ?? '');
    if (!family || extra !== undefined || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128)))) {
      return `'${r}' is not an IP address or CIDR block`;
    }
  }
  return ranges;
}
