/**
 * Whether each enabled provider answers at all: an OPTIONS ping to its next hop every interval,
 * registering or not. Any SIP answer counts (a 404 or 405 still proves the provider is there);
 * only silence or an unreachable address does not. Kept in memory: it is fresh within one
 * interval after a start.
 */
import type { Logger } from 'pino';
import { Gauge, Histogram, type Registry } from 'prom-client';
import { randomToken } from '../sip/random.ts';
import { serialize, type SipRequest, type SipResponse } from '../sip/message.ts';
import type { TracedMessage } from '../../contract/callTrace.ts';
import type { SipStack } from '../sip/stack.ts';
import type { Peer } from '../sip/transport.ts';
import type { DestinationPolicy } from '../sip/destinationPolicy.ts';
import type { Provider, ProviderDirectory } from '../store/providers.ts';
import type { SipResolver } from './dns.ts';
import { nextHop, providerUri } from './addressing.ts';
import { resolveHops } from './allowedHops.ts';
import { testRegister, type RegisterTestResult } from './registerTest.ts';

export interface ProviderHealth {
  providerId: string;
  tenantId: string;
  reachable: boolean;
  /** Round trip of the last answered OPTIONS. */
  rttMs: number | null;
  /** The last answer (`200 OK`, `405 Method Not Allowed`) or why there was none. */
  detail: string;
  checkedAt: number;
}

export interface HealthMonitorDeps {
  directory: ProviderDirectory;
  resolver: SipResolver;
  stack: SipStack;
  policy: DestinationPolicy;
  log: Logger;
  registry: Registry;
  intervalMs: number;
  /** Told when a provider becomes reachable or unreachable. */
  onChange?: (health: ProviderHealth) => void;
}

/** Responses our own transaction layer makes up when nothing answered. */
const silent = (res: SipResponse) => res.status === 408 || (res.status === 503 && res.reason === 'Destination Unreachable');

export class ProviderHealthMonitor {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly results = new Map<string, ProviderHealth>();
  private readonly rtt: Histogram;
  private stopped = false;

  constructor(private readonly deps: HealthMonitorDeps) {
    const results = this.results;
    this.rtt = new Histogram({
      name: 'provider_options_rtt_seconds',
      help: 'Round trip of provider OPTIONS pings',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2],
      registers: [deps.registry],
    });
    new Gauge({
      name: 'provider_reachable',
      help: 'Providers by whether their last OPTIONS ping was answered',
      labelNames: ['reachable'] as const,
      registers: [deps.registry],
      collect() {
        let up = 0;
        for (const h of results.values()) if (h.reachable) up++;
        this.set({ reachable: 'true' }, up);
        this.set({ reachable: 'false' }, results.size - up);
      },
    });
  }

  async start(): Promise<void> {
    for (const p of await this.deps.directory.all()) this.track(p);
  }

  /** A provider was created, changed or deleted: check it afresh (or forget it). */
  async reload(providerId: string): Promise<void> {
    clearTimeout(this.timers.get(providerId));
    this.timers.delete(providerId);
    this.results.delete(providerId);
    const p = await this.deps.directory.byId(providerId);
    if (p) this.track(p);
  }

  health(providerId: string): ProviderHealth | undefined {
    return this.results.get(providerId);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private track(p: Provider): void {
    if (!p.enabled || this.stopped) return;
    // Spread the first pings of many providers over the interval instead of one burst at start.
    this.schedule(p, Math.random() * this.deps.intervalMs);
  }

  private schedule(p: Provider, delayMs: number): void {
    const t = setTimeout(() => {
      void this.check(p)
        .catch((err: unknown) => this.deps.log.error({ err, tenantId: p.tenantId, providerId: p.id }, 'provider health check failed'))
        .finally(() => {
          if (!this.stopped && this.timers.get(p.id) === t) this.schedule(p, this.deps.intervalMs);
        });
    }, delayMs);
    t.unref();
    this.timers.set(p.id, t);
  }

  /**
   * "Test now": pings the provider at once and says what happened, with the OPTIONS as sent and
   * its answer as received (none when it stayed silent), for the portal's ladder; a provider that
   * registers is sent a REGISTER at the same time (registerTest.ts), and that exchange is told the same way.
   */
  async testNow(p: Provider): Promise<{ health: ProviderHealth; messages: TracedMessage[]; register: RegisterTestResult | null }> {
    // At once, not one after the other: a provider that stays silent costs one time-out, not two.
    const [{ result, messages }, register] = await Promise.all([this.probe(p), p.register ? testRegister(this.deps, p) : null]);
    const health: ProviderHealth = { providerId: p.id, tenantId: p.tenantId, checkedAt: Date.now(), ...result };
    this.deps.log.info(
      { tenantId: p.tenantId, providerId: p.id, provider: p.name, reachable: health.reachable, detail: health.detail, register: register?.steps },
      'provider tested',
    );
    return { health, messages, register };
  }

  private async probe(p: Provider): Promise<{ result: Omit<ProviderHealth, 'providerId' | 'tenantId' | 'checkedAt'>; messages: TracedMessage[] }> {
    const hop = nextHop(p);
    const hops = await resolveHops(this.deps, hop);
    if ('failure' in hops) return { result: { reachable: false, rttMs: null, detail: `DNS lookup of ${hops.failure.hostname} failed (${hops.failure.kind})` }, messages: [] };
    if ('denied' in hops) return { result: { reachable: false, rttMs: null, detail: `${hop.host} has no address this switch sends to` }, messages: [] };
    const peer = hops.peers[0];
    const started = Date.now();
    const { req, res } = await this.ping(p, peer);
    const rttMs = Date.now() - started;
    const traced = (direction: TracedMessage['direction'], at: number, m: SipRequest | SipResponse): TracedMessage[] => {
      const text = serialize(m)?.toString('utf8');
      return text === undefined ? [] : [{ at, direction, peer, sipCallId: req.headers['call-id'] ?? '', firstLine: text.slice(0, text.indexOf('\r\n')), text }];
    };
    const sent = traced('out', started, req);
    if (silent(res)) return { result: { reachable: false, rttMs: null, detail: `${hop.host} did not answer OPTIONS` }, messages: sent };
    this.rtt.observe(rttMs / 1000);
    return { result: { reachable: true, rttMs, detail: `${res.status} ${res.reason}` }, messages: [...sent, ...traced('in', started + rttMs, res)] };
  }

  private async check(p: Provider): Promise<void> {
    const { result } = await this.probe(p);
    if (this.stopped || !this.timers.has(p.id)) return;
    const before = this.results.get(p.id);
    const health: ProviderHealth = { providerId: p.id, tenantId: p.tenantId, checkedAt: Date.now(), ...result };
    this.results.set(p.id, health);
    if (before?.reachable !== health.reachable) {
      this.deps.log.info({ tenantId: p.tenantId, providerId: p.id, provider: p.name, reachable: health.reachable, detail: health.detail }, 'provider reachability changed');
      this.deps.onChange?.(health);
    }
  }

  private async ping(p: Provider, peer: Peer): Promise<{ req: SipRequest; res: SipResponse }> {
    const uri = providerUri(p);
    const req: SipRequest = {
      method: 'OPTIONS',
      uri,
      version: '2.0',
      headers: {
        from: { uri: this.deps.stack.contactUri(peer.transport, p.contactUser ?? p.username ?? undefined), params: { tag: randomToken(6) } },
        to: { uri, params: {} },
        'call-id': `${randomToken(12)}@ping`,
        cseq: { seq: 1, method: 'OPTIONS' },
        'max-forwards': '70',
        'user-agent': 'sipswitch',
      },
      content: '',
    };
    const res = await new Promise<SipResponse>((resolve) => this.deps.stack.clientTransactions.send(req, peer, { onFinal: resolve }));
    return { req, res };
  }
}
