/**
 * The addresses of the providers (SIP trunks) tenants have configured, which the brute-force
 * guard never bans: a carrier's address banned would cut every tenant's calls through it.
 *
 * What counts as a configured provider's address, for every enabled provider entry of any tenant:
 * - what its host and its outbound proxy resolve to (DNS SRV, then A/AAAA, as calls to it do);
 * - the addresses and ranges its `sourceAddresses` list, but a range only up to a /24 (IPv4) or a
 *   /64 (IPv6): a wider one (the API takes up to a /16 or /48) helps recognise a carrier's calls,
 *   it does not shield a whole network from bans.
 *
 * Any tenant may add a provider, so an attacker can name its own address as one. What that buys
 * is little: the (account, address) blocks still apply to provider addresses, so each account
 * still gets only ten guesses per 30 minutes from there, as from any address; the address is only
 * spared the ban that a scanner walking usernames gets. Operators see such an address in the
 * log line of the failure that would have banned it, with the tenants whose providers name it.
 *
 * The set is rebuilt every `refreshMs` (and on demand) in the background, so the SIP receive path
 * asks only an in-memory list; a host DNS cannot resolve keeps the addresses it had.
 */
import { BlockList, isIP } from 'node:net';
import type { Logger } from 'pino';
import type { Provider } from '../store/providers.ts';

/** Where provider entries come from (the store's cross-tenant ProviderDirectory). */
export interface ProviderList {
  all(): Promise<Provider[]>;
}

/** Resolves a host as calls to it are resolved (providers/dns.ts). */
export interface HostResolver {
  resolve(query: { host: string; port?: number | null; transport: 'udp' | 'tcp' }): Promise<Array<{ address: string }>>;
}

/** The widest ranges of `sourceAddresses` that count as a provider's own addresses. */
const NARROWEST_WIDE_PREFIX = { 4: 24, 6: 64 } as const;
/** Host lookups under way at once during a refresh. */
const LOOKUPS_AT_ONCE = 8;

interface Entry {
  /** An address, or a range `address/bits`. */
  cidr: string;
  tenantId: string;
  provider: string;
}

const familyOf = (address: string) => (isIP(address) === 6 ? 'ipv6' : 'ipv4');

function hostPort(text: string): { host: string; port: number | null } | undefined {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(text);
  return m ? { host: m[1]!.replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : null } : undefined;
}

export class ProviderAddresses {
  private list = new BlockList();
  private entries: Entry[] = [];
  /** The last addresses each host resolved to, kept when a later lookup fails. */
  private readonly resolved = new Map<string, string[]>();
  private timer?: NodeJS.Timeout;
  private refreshing?: Promise<void>;

  constructor(
    private readonly providers: ProviderList,
    private readonly log: Logger,
    private readonly refreshMs = 60_000,
  ) {}

  /** Starts refreshing with `resolver`; returns the function that stops it. */
  start(resolver: HostResolver): () => void {
    this.resolver = resolver;
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.refreshMs).unref();
    return () => clearInterval(this.timer);
  }

  private resolver?: HostResolver;

  has(address: string): boolean {
    return isIP(address) !== 0 && this.list.check(address, familyOf(address));
  }

  /** Which tenants' providers name `address`, for the log line of a ban it was spared. */
  owners(address: string): Array<{ tenantId: string; provider: string }> {
    if (isIP(address) === 0) return [];
    return this.entries
      .filter((e) => {
        const one = new BlockList();
        add(one, e.cidr);
        return one.check(address, familyOf(address));
      })
      .map(({ tenantId, provider }) => ({ tenantId, provider }));
  }

  /** Rebuilds the set now (a refresh under way is joined). */
  refresh(): Promise<void> {
    this.refreshing ??= this.rebuild()
      .catch((err: unknown) => this.log.warn({ err }, 'provider addresses not refreshed: the last ones stay in force'))
      .finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async rebuild(): Promise<void> {
    const providers = (await this.providers.all()).filter((p) => p.enabled);
    const entries: Entry[] = [];
    const lookups: Array<{ host: string; port: number | null; transport: Provider['transport']; owner: Omit<Entry, 'cidr'> }> = [];
    for (const p of providers) {
      const owner = { tenantId: p.tenantId, provider: p.name };
      for (const source of p.sourceAddresses) {
        const [address, bits] = source.split('/');
        const family = isIP(address ?? '') as 0 | 4 | 6;
        if (family && (bits === undefined || Number(bits) >= NARROWEST_WIDE_PREFIX[family])) entries.push({ cidr: source, ...owner });
      }
      lookups.push({ host: p.host, port: p.port, transport: p.transport, owner });
      const proxy = p.outboundProxy ? hostPort(p.outboundProxy) : undefined;
      if (proxy) lookups.push({ ...proxy, transport: p.transport, owner });
    }
    const queue = [...lookups];
    const work = async () => {
      for (let l = queue.shift(); l; l = queue.shift()) {
        for (const address of await this.addressesOf(l.host, l.port, l.transport)) entries.push({ cidr: address, ...l.owner });
      }
    };
    await Promise.all(Array.from({ length: LOOKUPS_AT_ONCE }, work));
    const list = new BlockList();
    for (const e of entries) add(list, e.cidr);
    this.list = list;
    this.entries = entries;
    const looked = new Set(lookups.map((l) => lookupKey(l.host, l.port, l.transport)));
    for (const key of this.resolved.keys()) if (!looked.has(key)) this.resolved.delete(key);
  }

  private async addressesOf(host: string, port: number | null, transport: Provider['transport']): Promise<string[]> {
    const key = lookupKey(host, port, transport);
    if (!this.resolver) return this.resolved.get(key) ?? [];
    try {
      const addresses = (await this.resolver.resolve({ host, port, transport })).map((t) => t.address);
      this.resolved.set(key, addresses);
      return addresses;
    } catch (err) {
      this.log.debug({ err, host }, 'provider host not resolved: its last addresses stay');
      return this.resolved.get(key) ?? [];
    }
  }
}

function lookupKey(host: string, port: number | null, transport: string): string {
  return `${host.toLowerCase()} ${port ?? ''} ${transport}`;
}

function add(list: BlockList, cidr: string): void {
  const [address, bits] = cidr.split('/') as [string, string | undefined];
  const type = familyOf(address);
  if (bits === undefined) list.addAddress(address, type);
  else list.addSubnet(address, Number(bits), type);
}
