/**
 * Where to send SIP requests for a host (RFC 3263 §4): an IP literal is used as it is; a host with
 * an explicit port is looked up as A then AAAA; otherwise, when no transport was chosen, NAPTR
 * records pick one (`SIP+D2U`, `SIP+D2T`; SCTP is not spoken here, and TLS is what a `sips:` URI
 * asks for) and name the SRV records to use, and without NAPTR records the `_sip._udp` then
 * `_sip._tcp` SRV records are tried (§4.1); with a transport, its SRV records (`_sips._tcp` for
 * TLS) decide servers, ports and order, and a host without them is looked up as A/AAAA on port
 * 5060 (5061 for TLS; UDP when nothing chose). Failures are DnsLookupErrors whose kind tells a
 * provider that does not exist (nxdomain) from DNS that is having a bad moment (transient). */
import type { SrvRecord } from 'node:dns';
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { DnsLookupError, failureKind, type DnsFailureKind } from './dnsErrors.ts';
import { srvOrder } from './srvOrder.ts';

export { DnsLookupError, type DnsFailureKind } from './dnsErrors.ts';

export type SipTransport = 'udp' | 'tcp' | 'tls';

export interface SipTargetQuery {
  host: string;
  port?: number | null;
  /** Left out: RFC 3263 §4.1 chooses (NAPTR, then SRV for UDP and TCP, then UDP). */
  transport?: SipTransport;
}

export interface SipTarget {
  address: string;
  port: number;
  transport: SipTransport;
  family: 4 | 6;
  /** How the address was found: an IP literal, SRV records, or A/AAAA records of the host. */
  via: 'ip' | 'srv' | 'a';
}

export interface SipResolver {
  /** The addresses to try, best first; never empty (no usable address is a DnsLookupError). */
  resolve(query: SipTargetQuery): Promise<SipTarget[]>;
}

export interface SipResolverOptions {
  /** DNS servers as `ip` or `ip:port` (`[v6]:port`); default: the system's (/etc/resolv.conf). */
  servers?: string[];
  /** How long one resolve() may take in all, retries included; then it fails as transient. */
  timeoutMs?: number;
  /** How many times each query is sent (per server) within that time. */
  tries?: number;
  /** How long a successful answer is reused (capped by the records' own TTL); 0 disables. */
  cacheTtlMs?: number;
  /** At most this many cached answers; the least recently used go first. */
  cacheSize?: number;
  /** Source of the SRV weighted draw, in [0, 1); tests inject their own. */
  random?: () => number;
}

export const SIP_DEFAULT_PORT = 5060;
export const SIPS_DEFAULT_PORT = 5061;
const defaultPort = (t: SipTransport | undefined): number => (t === 'tls' ? SIPS_DEFAULT_PORT : SIP_DEFAULT_PORT);
const srvService = (t: SipTransport): string => (t === 'tls' ? '_sips._tcp' : `_sip._${t}`);
const DEFAULTS = { timeoutMs: 5000, tries: 2, cacheTtlMs: 30_000, cacheSize: 1000 };
/** A hostile or broken zone could list hundreds of SRV records; the best ones are enough. */
const MAX_SRV_RECORDS = 16;

interface Address {
  address: string;
  family: 4 | 6;
}

interface ResolvedSrv {
  priority: number;
  weight: number;
  port: number;
  addresses: Address[];
}

/**
 * What DNS said, before ordering: SRV records keep their weights so that every resolve() draws
 * its own order, even from the cache (a cached order would send every call to one server).
 */
type Resolution = { transport: SipTransport } & ({ via: 'a'; port: number; addresses: Address[] } | { via: 'srv'; records: ResolvedSrv[] });

/**
 * NAPTR services a `sip:` URI without a transport may use (RFC 3263 §4.1), by the transport each
 * stands for. `SIPS+D2T` is passed over: a `sips:` URI asks for TLS itself and goes straight to
 * `_sips._tcp` SRV records.
 */
const NAPTR_SERVICES: Record<string, SipTransport> = { 'SIP+D2U': 'udp', 'SIP+D2T': 'tcp' };

interface Found {
  resolution: Resolution;
  /** The shortest TTL (s) among the address records used. */
  ttl: number;
}

const describe: Record<DnsFailureKind, string> = {
  nxdomain: 'no such domain',
  nodata: 'no usable records',
  transient: 'DNS lookup failed',
};

function lookupError(err: unknown, name: string): DnsLookupError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const kind = failureKind(code);
  return new DnsLookupError(kind, name, code, `${name}: ${describe[kind]} (${code ?? String(err)})`, { cause: err });
}

/** The failure first in `preference` among several lookups' failures. */
function firstOfKind(failures: DnsLookupError[], preference: DnsFailureKind[]): DnsLookupError | undefined {
  for (const kind of preference) {
    const hit = failures.find((f) => f.kind === kind);
    if (hit) return hit;
  }
  return undefined;
}

function validOptions(o: { timeoutMs: number; tries: number; cacheTtlMs: number; cacheSize: number }): void {
  if (!(o.timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, not ${o.timeoutMs}`);
  if (!Number.isInteger(o.tries) || o.tries < 1) throw new RangeError(`tries must be a whole number from 1, not ${o.tries}`);
  if (!(o.cacheTtlMs >= 0)) throw new RangeError(`cacheTtlMs must be 0 or more, not ${o.cacheTtlMs}`);
  if (!Number.isInteger(o.cacheSize) || o.cacheSize < 1) throw new RangeError(`cacheSize must be a whole number from 1, not ${o.cacheSize}`);
}

function validPort(port: number | null | undefined): number | null {
  if (port === null || port === undefined) return null;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`invalid SIP port ${port}`);
  return port;
}

export class DnsSipResolver implements SipResolver {
  private readonly dns: Resolver;
  private readonly timeoutMs: number;
  private readonly cacheTtlMs: number;
  private readonly cacheSize: number;
  private readonly random: () => number;
  private readonly cache = new Map<string, { resolution: Resolution; expiresAt: number }>();
  /** Lookups under way, shared by concurrent resolves of the same target. */
  private readonly pending = new Map<string, Promise<Resolution>>();

  constructor(options: SipResolverOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? DEFAULTS.timeoutMs;
    const tries = options.tries ?? DEFAULTS.tries;
    this.cacheTtlMs = options.cacheTtlMs ?? DEFAULTS.cacheTtlMs;
    this.cacheSize = options.cacheSize ?? DEFAULTS.cacheSize;
    this.random = options.random ?? Math.random;
    validOptions({ timeoutMs: this.timeoutMs, tries, cacheTtlMs: this.cacheTtlMs, cacheSize: this.cacheSize });
    // c-ares doubles its wait on each retry (less up to half as jitter), so this first wait lets
    // every try fit into timeoutMs. But c-ares waits at least 250 ms, adapts the wait to the
    // server's recent latency, and node notices expired queries only on its timer's next tick:
    // the deadline in within() is what actually bounds a lookup.
    const firstTryMs = Math.max(1, Math.floor(this.timeoutMs / (2 ** tries - 1)));
    this.dns = new Resolver({ timeout: firstTryMs, tries });
    if (options.servers) this.dns.setServers(options.servers);
  }

  async resolve(query: SipTargetQuery): Promise<SipTarget[]> {
    const port = validPort(query.port);
    if (!query.host) throw new RangeError('empty SIP host');
    const unbracketed = query.host.replace(/^\[(.*)\]$/, '$1');
    const family = isIP(unbracketed);
    if (family === 4 || family === 6) {
      return [{ address: unbracketed, port: port ?? defaultPort(query.transport), transport: query.transport ?? 'udp', family, via: 'ip' }];
    }
    const host = query.host.toLowerCase().replace(/\.$/, '');
    const wanted = query.transport ?? (port !== null ? 'udp' : undefined);
    const resolution = await this.cached(`${host} ${port ?? ''} ${wanted ?? 'any'}`, () => this.lookup(host, port, wanted));
    const { transport } = resolution;
    if (resolution.via === 'a') {
      return resolution.addresses.map((a) => ({ ...a, port: resolution.port, transport, via: 'a' as const }));
    }
    return srvOrder(resolution.records, this.random).flatMap((r) => r.addresses.map((a) => ({ ...a, port: r.port, transport, via: 'srv' as const })));
  }

  private cached(key: string, lookup: () => Promise<Found>): Promise<Resolution> {
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key);
      if (hit.expiresAt > performance.now()) {
        this.cache.set(key, hit); // most recently used now: last in the map's order
        return Promise.resolve(hit.resolution);
      }
    }
    const underWay = this.pending.get(key);
    if (underWay) return underWay;
    const done = lookup()
      .then(({ resolution, ttl }) => {
        const lifetimeMs = Math.min(this.cacheTtlMs, ttl * 1000);
        if (lifetimeMs > 0) {
          for (const oldest of this.cache.keys()) {
            if (this.cache.size < this.cacheSize) break;
            this.cache.delete(oldest);
          }
          this.cache.set(key, { resolution, expiresAt: performance.now() + lifetimeMs });
        }
        return resolution;
      })
      .finally(() => this.pending.delete(key));
    this.pending.set(key, done);
    return done;
  }

  private async lookup(host: string, port: number | null, transport: SipTransport | undefined): Promise<Found> {
    const deadline = performance.now() + this.timeoutMs;
    if (port !== null) {
      const { addresses, ttl } = await this.addresses(host, deadline);
      return { resolution: { transport: transport ?? 'udp', via: 'a', port, addresses }, ttl };
    }
    if (transport === undefined) {
      const chosen = await this.naptr(host, deadline);
      if (chosen) return this.expandSrv(chosen.srvName, await this.srv(chosen.srvName, deadline, true), chosen.transport, deadline);
    }
    for (const t of transport ? [transport] : (['udp', 'tcp'] as const)) {
      const srvName = `${srvService(t)}.${host}`;
      const records = await this.srv(srvName, deadline, false);
      if (records) return this.expandSrv(srvName, records, t, deadline);
    }
    const { addresses, ttl } = await this.addresses(host, deadline);
    return { resolution: { transport: transport ?? 'udp', via: 'a', port: defaultPort(transport), addresses }, ttl };
  }

  /**
   * The best NAPTR record this switch can use (lowest order, then preference; flag "S"), or none
   * when the domain has no NAPTR records or none usable.
   */
  private async naptr(host: string, deadline: number): Promise<{ transport: SipTransport; srvName: string } | undefined> {
    let records;
    try {
      records = await this.within(this.dns.resolveNaptr(host), deadline);
    } catch (err) {
      const failure = lookupError(err, host);
      // A server that did not answer says nothing about whether NAPTR records exist.
      if (failure.kind === 'transient') throw failure;
      return undefined;
    }
    const usable = records
      .filter((r) => r.flags.toLowerCase() === 's' && NAPTR_SERVICES[r.service.toUpperCase()] && r.replacement)
      .sort((a, b) => a.order - b.order || a.preference - b.preference);
    const best = usable[0];
    return best ? { transport: NAPTR_SERVICES[best.service.toUpperCase()]!, srvName: best.replacement.replace(/\.$/, '') } : undefined;
  }

  /** SRV records of `name`; undefined when there are none (`required`: that is an error, NAPTR named them). */
  private async srv(name: string, deadline: number, required: true): Promise<SrvRecord[]>;
  private async srv(name: string, deadline: number, required: false): Promise<SrvRecord[] | undefined>;
  private async srv(name: string, deadline: number, required: boolean): Promise<SrvRecord[] | undefined> {
    try {
      return await this.within(this.dns.resolveSrv(name), deadline);
    } catch (err) {
      const failure = lookupError(err, name);
      // A server that did not answer says nothing about whether SRV records exist.
      if (failure.kind === 'transient' || required) throw failure;
      return undefined;
    }
  }

  private async expandSrv(srvName: string, records: SrvRecord[], transport: SipTransport, deadline: number): Promise<Found> {
    // Target "." (which node reports as "") means the service is decidedly not offered here.
    const usable = records
      .filter((r) => r.name !== '' && r.name !== '.')
      .sort((a, b) => a.priority - b.priority)
      .slice(0, MAX_SRV_RECORDS);
    if (!usable.length) throw new DnsLookupError('nodata', srvName, undefined, `${srvName}: SIP service not available (SRV target ".")`);
    const names = [...new Set(usable.map((r) => r.name.toLowerCase()))];
    const lookups = new Map(await Promise.all(names.map(async (name) => [name, await this.addresses(name, deadline).catch((err: DnsLookupError) => err)] as const)));
    const resolved: ResolvedSrv[] = [];
    let ttl = Infinity;
    for (const r of usable) {
      const found = lookups.get(r.name.toLowerCase());
      if (!found || found instanceof DnsLookupError) continue;
      resolved.push({ priority: r.priority, weight: r.weight, port: r.port, addresses: found.addresses });
      ttl = Math.min(ttl, found.ttl);
    }
    if (resolved.length) return { resolution: { transport, via: 'srv', records: resolved }, ttl };
    const failures = [...lookups.values()].filter((f): f is DnsLookupError => f instanceof DnsLookupError);
    const transient = firstOfKind(failures, ['transient']);
    if (transient) throw transient;
    // The host has SRV records, so it exists: targets without addresses make it nodata.
    const detail = failures.map((f) => `${f.hostname} (${f.code ?? f.kind})`).join(', ');
    throw new DnsLookupError('nodata', failures[0]?.hostname ?? srvName, failures[0]?.code, `${srvName}: no SRV target has an address: ${detail}`);
  }

  /** A then AAAA records of `name`, asked at once; one family failing is fine if the other has some. */
  private async addresses(name: string, deadline: number): Promise<{ addresses: Address[]; ttl: number }> {
    const [v4, v6] = await Promise.allSettled([this.within(this.dns.resolve4(name, { ttl: true }), deadline), this.within(this.dns.resolve6(name, { ttl: true }), deadline)]);
    const addresses: Address[] = [];
    const failures: DnsLookupError[] = [];
    let ttl = Infinity;
    for (const [family, result] of [
      [4, v4],
      [6, v6],
    ] as const) {
      if (result.status === 'rejected') {
        failures.push(lookupError(result.reason, name));
        continue;
      }
      for (const r of result.value) {
        addresses.push({ address: r.address, family });
        ttl = Math.min(ttl, r.ttl);
      }
    }
    if (addresses.length) return { addresses, ttl };
    // NXDOMAIN is about the name, whichever type was asked; a timeout of the other query does not undo it.
    throw firstOfKind(failures, ['nxdomain', 'transient', 'nodata']) ?? new DnsLookupError('nodata', name, undefined, `${name}: no A or AAAA records`);
  }

  /** Rejects like c-ares would (ETIMEOUT) once the deadline of this resolve() has passed. */
  private within<T>(lookup: Promise<T>, deadline: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error('DNS query timed out'), { code: 'ETIMEOUT' })), Math.max(0, deadline - performance.now()));
    });
    return Promise.race([lookup, expired]).finally(() => clearTimeout(timer));
  }
}
