/**
 * Where tenants may make the switch send SIP: their dialplans name SIP URIs, their transfers name
 * targets and their providers name hosts, and none of them may point the switch at itself or into
 * the network it runs in (loopback, link-local such as cloud metadata services, private and shared
 * ranges, multicast, and IPv4 written as IPv6). The check is made on every address a name resolves
 * to, never on the name. An operator running a private deployment opens ranges again with
 * DESTINATION_ALLOW. Phones are reached at the address they registered from, which is not a
 * tenant's choice, so they are not checked here.
 */
import { BlockList, isIP } from 'node:net';

export const DEFAULT_DENIED_DESTINATIONS = [
  // IPv4: "this network", private (RFC 1918), shared (RFC 6598), loopback, link-local, IETF protocol
  // assignments, benchmarking, multicast, reserved and broadcast.
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '224.0.0.0/4',
  '240.0.0.0/4',
  '255.255.255.255/32',
  // IPv6: unspecified, loopback, IPv4/IPv6 translation (NAT64), discard-only, unique local,
  // link-local, multicast. IPv4-mapped addresses (::ffff:10.0.0.1) need no entry: BlockList checks
  // them against the IPv4 ranges.
  '::/128',
  '::1/128',
  '64:ff9b::/96',
  '64:ff9b:1::/48',
  '100::/64',
  'fc00::/7',
  'fe80::/10',
  'ff00::/8',
];

function blockListOf(ranges: readonly string[]): BlockList {
  const list = new BlockList();
  for (const range of ranges) {
    const [address, bits] = range.split('/');
    const family = isIP(address ?? '') === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address!, family);
    else list.addSubnet(address!, Number(bits), family);
  }
  return list;
}

export class DestinationPolicy {
  private readonly denied: BlockList;
  private readonly allowed: BlockList;

  constructor(
    readonly deniedRanges: readonly string[],
    readonly allowedRanges: readonly string[] = [],
  ) {
    this.denied = blockListOf(deniedRanges);
    this.allowed = blockListOf(allowedRanges);
  }

  allows(address: string): boolean {
    const family = isIP(address);
    if (!family) return false;
    const type = family === 6 ? 'ipv6' : 'ipv4';
    return this.allowed.check(address, type) || !this.denied.check(address, type);
  }
}

/** Parses `DESTINATION_DENY` / `DESTINATION_ALLOW`: CIDR blocks or addresses, comma-separated; `none` is the empty list. */
export function parseDeniedRanges(text: string): string[] | string {
  if (text.trim().toLowerCase() === 'none') return [];
  const ranges = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const r of ranges) {
    const [address, bits, extra] = r.split('/');
    const family = isIP(address ?? '');
    if (!family || extra !== undefined || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128)))) {
      return `'${r}' is not an IP address or CIDR block`;
    }
  }
  return ranges;
}
