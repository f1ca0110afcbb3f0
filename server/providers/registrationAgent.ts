/**
 * Keeps every enabled provider that asks for it registered: REGISTER with our Contact (carrying the
 * entry's line token), answer the digest challenge once, refresh before expiry, follow 423
 * Min-Expires, and back off with jitter when the provider or DNS fails. A 403/404 stops the
 * registration with a reason the tenant sees; so does a name that answers NXDOMAIN for a long
 * window, but never a transient DNS failure. Status is kept in memory and written to the store on
 * every change.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import { randomToken } from '../sip/random.ts';
import { answerChallenge, readChallenge, type Challenge } from '../sip/digestClient.ts';
import { headerInt, type SipResponse } from '../sip/message.ts';
import type { SipStack } from '../sip/stack.ts';
import type { DestinationPolicy } from '../sip/destinationPolicy.ts';
import type { Provider, ProviderDirectory, ProviderStatus } from '../store/providers.ts';
import type { ProviderState } from '../../contract/providers.ts';
import { CredentialKeyError } from './credentials.ts';
import type { DnsLookupError, SipResolver } from './dns.ts';
import type { Peer } from '../sip/transport.ts';
import { describeFailure } from './failures.ts';
import { nextHop, providerUri } from './addressing.ts';
import { registerRequest, registrationParties } from './registerRequest.ts';
import { resolveHops } from './allowedHops.ts';
import { ALL_PROVIDERS_HERE, type RegistrationLeases } from './registrationLeases.ts';

export interface RegistrationAgentOptions {
  retryMinMs: number;
  retryMaxMs: number;
  /** How long a provider's name may answer NXDOMAIN before its registration is stopped. */
  nxdomainDisableMs: number;
}

export interface RegistrationAgentDeps {
  directory: ProviderDirectory;
  resolver: SipResolver;
  stack: SipStack;
  log: Logger;
  registry: Registry;
  options: RegistrationAgentOptions;
  /** Where REGISTERs may go; addresses outside it are skipped. */
  policy?: DestinationPolicy;
  /** Told of every status change (the live view). */
  onStatus?: (status: ProviderStatus) => void;
  /** Which providers this node registers (in a cluster, those whose lease it holds); all without. */
  leases?: RegistrationLeases;
}

const REFRESH_MARGIN = 0.85;

/** One provider's registration loop. */
class ProviderRegistration {
  status: ProviderStatus;
  private timer?: NodeJS.Timeout;
  /** Fires when the current registration runs out without a refresh having been granted. */
  private expiryTimer?: NodeJS.Timeout;
  /** A REGISTER exchange (not the final unREGISTER) is under way. */
  private attempting = false;
  /**
   * The password our current binding was made with: removing the binding may need it after the
   * provider was deleted (no row to open it from) or given another password.
   */
  private bindingPassword: string | null = null;
  private readonly callId = `${randomToken(12)}@reg`;
  private readonly fromTag = randomToken(8);
  private cseq = 0;
  private expires: number;
  private failures = 0;
  private nxdomainSince: number | null = null;
  private stopped = false;
  /** Started on this node (it holds the provider's lease); a loop waiting for the lease is not. */
  started = false;

  constructor(
    readonly provider: Provider,
    private readonly agent: RegistrationAgent,
  ) {
    this.expires = provider.registerExpires;
    this.status = {
      providerId: provider.id,
      tenantId: provider.tenantId,
      state: 'idle',
      lastStatus: null,
      lastReason: null,
      lastError: null,
      nextAttemptAt: null,
      registeredUntil: null,
      rttMs: null,
      updatedAt: Date.now(),
    };
  }

  get log(): Logger {
    return this.agent.deps.log;
  }

  start(previous?: ProviderStatus): void {
    this.started = true;
    if (previous) this.status = { ...previous, providerId: this.provider.id, tenantId: this.provider.tenantId };
    if (!this.provider.enabled) return this.settle({ state: 'disabled', lastError: 'provider is disabled', nextAttemptAt: null, registeredUntil: null });
    if (!this.provider.register) return this.settle({ state: 'idle', lastError: null, nextAttemptAt: null, registeredUntil: null });
    // Stopped for a reason (403, NXDOMAIN) and not edited since: a restart does not retry it.
    if (previous?.state === 'disabled' && previous.updatedAt >= this.provider.updatedAt) return;
    const until = this.status.state === 'registered' ? this.status.registeredUntil : null;
    if (until !== null && until > Date.now()) this.expireAt(until);
    else this.settle({ state: 'registering', registeredUntil: null, nextAttemptAt: null });
    this.schedule(0);
  }

  /** Stops the loop; `unregister` also removes our binding at the provider (best effort). */
  stop(unregister: boolean): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.expiryTimer);
    if (unregister && this.status.state === 'registered') void this.attempt(0).catch(() => {});
  }

  private expireAt(until: number): void {
    clearTimeout(this.expiryTimer);
    this.expiryTimer = setTimeout(() => this.lapsed(), until - Date.now());
    this.expiryTimer.unref();
  }

  /** The registration ran out before a refresh was granted: we are no longer registered. */
  private lapsed(): void {
    if (this.stopped || this.status.state !== 'registered') return;
    const waiting = `the registration ran out while waiting for ${nextHop(this.provider).host} to answer the refresh`;
    this.settle({
      state: this.attempting ? 'registering' : 'failed',
      registeredUntil: null,
      lastError: this.status.lastError ?? waiting,
    });
    this.log.warn({ tenantId: this.provider.tenantId, providerId: this.provider.id, provider: this.provider.name, reason: this.status.lastError }, 'provider registration ran out');
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.attempt(this.expires).catch((err: unknown) => this.failed(`internal error: ${(err as Error).message}`)), delayMs);
    this.timer.unref();
  }

  private settle(change: Partial<ProviderStatus>): void {
    const next = { ...this.status, ...change, updatedAt: Date.now() };
    const changed = (Object.keys(change) as Array<keyof ProviderStatus>).some((k) => next[k] !== this.status[k]);
    this.status = next;
    if (changed || change.state === 'registered') this.agent.statusChanged(this);
  }

  /** One REGISTER exchange (with at most one answered challenge and Min-Expires corrections). */
  async attempt(expires: number): Promise<void> {
    if (this.stopped && expires !== 0) return;
    if (expires === 0) return this.exchange(0);
    this.attempting = true;
    try {
      await this.exchange(expires);
    } finally {
      this.attempting = false;
    }
  }

  private async exchange(expires: number): Promise<void> {
    const p = this.provider;
    if (expires !== 0) this.settle({ state: this.status.state === 'registered' ? 'registered' : 'registering', nextAttemptAt: null });
    const hops = await resolveHops(this.agent.deps, nextHop(p));
    if ('failure' in hops) return this.dnsFailed(hops.failure);
    this.nxdomainSince = null;
    if ('denied' in hops) return this.failed(`${nextHop(p).host} resolves to ${hops.denied.join(', ')}, where this switch does not send (its own network)`);
    const targets = hops.peers;
    let password: string | null;
    try {
      password = expires === 0 ? this.bindingPassword : await this.agent.deps.directory.password(p);
    } catch (err) {
      if (!(err instanceof CredentialKeyError)) throw err;
      return this.failed(
        `the stored password cannot be opened (${err.message}): start the switch with the CREDENTIALS_KEY it was saved under, or enter the password again and save the provider`,
      );
    }
    const started = Date.now();
    let res: SipResponse | undefined;
    let answered = 0;
    let minExpiresFollowed = 0;
    let auth: { header: string; value: unknown } | undefined;
    let challenge: Challenge | null = null;
    let nonceCount = 0;
    // Each request answering a nonce counts up (RFC 7616 §3.4): the same count again is a replay.
    const answer = (c: Challenge, secret: string) => ({
      header: c.header,
      value: [answerChallenge(c, { username: p.authUsername ?? p.username ?? '', password: secret }, 'REGISTER', providerUri(p), { nonceCount: ++nonceCount })],
    });
    // Try each resolved target in turn while they time out or are unavailable.
    for (const target of targets) {
      for (;;) {
        res = await this.send(target, expires, auth);
        if ((res.status === 401 || res.status === 407) && answered < 2) {
          challenge = readChallenge(res);
          const stale = /stale\s*=\s*"?true/i.test(JSON.stringify(res.headers[res.status === 407 ? 'proxy-authenticate' : 'www-authenticate'] ?? ''));
          // Answer a challenge once; again only if the provider says our nonce went stale.
          if (!challenge || password === null || (answered === 1 && !stale)) break;
          answered++;
          nonceCount = 0;
          auth = answer(challenge, password);
          continue;
        }
        if (res.status === 423 && minExpiresFollowed < 3) {
          const min = headerInt(res, 'min-expires');
          if (!min || min <= expires) break;
          minExpiresFollowed++;
          this.expires = expires = min;
          if (challenge && password !== null) auth = answer(challenge, password);
          continue;
        }
        break;
      }
      if (res.status !== 408 && res.status !== 503) break;
    }
    if (expires === 0) return;
    const r = res!;
    const rtt = Date.now() - started;
    if (r.status >= 200 && r.status < 300) {
      // A registrar may shorten the interval, not lengthen it (RFC 3261 §10.3); a longer one (up to
      // 2^32 s) would also overflow the refresh timer, which then fires at once, again and again.
      const granted = Math.min(this.grantedExpires(r) ?? expires, expires);
      this.failures = 0;
      this.bindingPassword = password;
      this.expireAt(Date.now() + granted * 1000);
      this.settle({ state: 'registered', lastStatus: r.status, lastReason: r.reason, lastError: null, registeredUntil: Date.now() + granted * 1000, rttMs: rtt });
      const refreshIn = Math.max(1000, Math.min(granted * 1000 * REFRESH_MARGIN, (granted - 5) * 1000));
      this.settle({ nextAttemptAt: Date.now() + refreshIn });
      this.agent.metrics.rtt.observe(rtt / 1000);
      this.schedule(refreshIn);
      return;
    }
    this.settle({ lastStatus: r.status, lastReason: r.reason, rttMs: r.status === 408 ? null : rtt });
    if (r.status === 403 || r.status === 404) {
      return this.disable(describeFailure(r.status, r.reason, p));
    }
    this.failed(describeFailure(r.status, r.reason, p));
  }

  /** The expiry the registrar granted our Contact: its `expires` parameter, else the Expires header. */
  private grantedExpires(res: SipResponse): number | undefined {
    const contacts = Array.isArray(res.headers.contact) ? res.headers.contact : [];
    const ours = contacts.find((c) => c.uri.includes(`line=${this.provider.lineToken}`));
    const fromContact = ours?.params.expires ? Number(ours.params.expires) : undefined;
    const value = fromContact ?? headerInt(res, 'expires');
    return value !== undefined && Number.isFinite(value) && value > 0 ? value : undefined;
  }

  private send(target: Peer, expires: number, auth?: { header: string; value: unknown }): Promise<SipResponse> {
    const p = this.provider;
    const stack = this.agent.deps.stack;
    const { aor, contact } = registrationParties(stack, p, target.transport);
    const req = registerRequest(p, { aor, contact, callId: this.callId, fromTag: this.fromTag, cseq: ++this.cseq, expires, ...(auth ? { auth } : {}) });
    return new Promise((resolve) => {
      stack.clientTransactions.send(req, target, { onFinal: resolve });
    });
  }

  private dnsFailed(err: DnsLookupError): void {
    const now = Date.now();
    if (err.kind === 'nxdomain') {
      this.nxdomainSince ??= now;
      if (now - this.nxdomainSince >= this.agent.deps.options.nxdomainDisableMs) {
        return this.disable(`the name ${err.hostname} does not exist (NXDOMAIN since ${new Date(this.nxdomainSince).toISOString()}); fix the host and save the provider`);
      }
      return this.failed(`the name ${err.hostname} does not exist (NXDOMAIN); retrying in case it is being set up`);
    }
    this.nxdomainSince = null;
    this.failed(err.kind === 'nodata' ? `the name ${err.hostname} has no address records` : `DNS lookup of ${err.hostname} failed (${err.code ?? err.message}); retrying`);
  }

  private failed(reason: string): void {
    if (this.stopped) return;
    this.failures++;
    const { retryMinMs, retryMaxMs } = this.agent.deps.options;
    const base = Math.min(retryMaxMs, retryMinMs * 2 ** Math.min(this.failures - 1, 20));
    // Jitter spreads the retries of many tenants at one provider that comes back after an outage.
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    const stillRegistered = this.status.registeredUntil !== null && this.status.registeredUntil > Date.now();
    this.settle({ state: stillRegistered ? 'registered' : 'failed', lastError: reason, nextAttemptAt: Date.now() + delay });
    this.log.warn({ tenantId: this.provider.tenantId, providerId: this.provider.id, provider: this.provider.name, reason, retryInMs: delay }, 'provider registration failed');
    this.schedule(delay);
  }

  private disable(reason: string): void {
    clearTimeout(this.timer);
    clearTimeout(this.expiryTimer);
    this.settle({ state: 'disabled', lastError: reason, nextAttemptAt: null, registeredUntil: null });
    this.log.warn({ tenantId: this.provider.tenantId, providerId: this.provider.id, provider: this.provider.name, reason }, 'provider registration stopped');
  }
}

export class RegistrationAgent {
  private readonly loops = new Map<string, ProviderRegistration>();
  /** Each provider's latest status write, which the next one waits for. */
  private readonly writing = new Map<string, Promise<void>>();
  private leaseTimer?: NodeJS.Timeout;
  readonly metrics: { rtt: Histogram; states: Gauge; writes: Counter };

  constructor(readonly deps: RegistrationAgentDeps) {
    const loops = this.loops;
    this.metrics = {
      rtt: new Histogram({
        name: 'provider_register_rtt_seconds',
        help: 'Round trip of provider REGISTER exchanges',
        buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5],
        registers: [deps.registry],
      }),
      states: new Gauge({
        name: 'provider_registrations',
        help: 'Providers by registration state',
        labelNames: ['state'] as const,
        registers: [deps.registry],
        collect() {
          const counts: Record<ProviderState, number> = { disabled: 0, idle: 0, registering: 0, registered: 0, failed: 0 };
          for (const l of loops.values()) counts[l.status.state]++;
          for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
        },
      }),
      writes: new Counter({ name: 'provider_status_write_failures_total', help: 'Provider status writes the store refused', registers: [deps.registry] }),
    };
  }

  async start(): Promise<void> {
    for (const p of await this.deps.directory.all()) await this.track(p);
    if (Number.isFinite(this.leases.periodMs)) {
      this.leaseTimer = setInterval(() => void this.renewLeases(), this.leases.periodMs / 3);
      this.leaseTimer.unref();
    }
  }

  /** A provider was created, changed or deleted: its loop starts over with the new definition. */
  async reload(providerId: string): Promise<void> {
    const old = this.loops.get(providerId);
    const p = await this.deps.directory.byId(providerId);
    const stillRegisteredHere = old && p && p.enabled && p.register && sameRegistration(old.provider, p);
    old?.stop(!stillRegisteredHere);
    this.loops.delete(providerId);
    if (p) await this.track(p);
    else if (old?.started) await this.leases.release(providerId).catch(() => {});
  }

  private get leases(): RegistrationLeases {
    return this.deps.leases ?? ALL_PROVIDERS_HERE;
  }

  /**
   * Whether this node registers the provider now. Without an answer from the lease store every
   * node registers its providers itself: the provider then sees one contact per node, each of
   * which reaches the switch, rather than none.
   */
  private async holdsLease(providerId: string): Promise<boolean> {
    try {
      return await this.leases.hold(providerId);
    } catch (err) {
      this.deps.log.warn({ providerId, err: (err as Error).message }, 'provider lease unknown (lease store unreachable): registering from this node');
      return true;
    }
  }

  /** Renews the leases this node holds and takes those nobody holds (their holder died); a lease lost stops its loop here. */
  private async renewLeases(): Promise<void> {
    for (const [id, loop] of [...this.loops]) {
      const held = await this.holdsLease(id);
      if (this.loops.get(id) !== loop || held === loop.started) continue;
      if (held) {
        this.deps.log.info({ tenantId: loop.provider.tenantId, providerId: id, provider: loop.provider.name }, 'took over the registration of a provider whose lease had run out');
        loop.start(await this.deps.directory.status(id));
        continue;
      }
      loop.stop(false);
      this.loops.set(id, new ProviderRegistration(loop.provider, this));
    }
  }

  private async track(p: Provider): Promise<void> {
    const loop = new ProviderRegistration(p, this);
    this.loops.set(p.id, loop);
    if (await this.holdsLease(p.id)) loop.start(await this.deps.directory.status(p.id));
  }

  /** The status of a provider this node registers; another node's (its lease) is in the store. */
  status(providerId: string): ProviderStatus | undefined {
    const loop = this.loops.get(providerId);
    return loop?.started ? loop.status : undefined;
  }

  statusChanged(loop: ProviderRegistration): void {
    if (this.loops.get(loop.provider.id) !== loop) return;
    const status = loop.status;
    this.deps.onStatus?.(status);
    // One write after another per provider: concurrent ones (a MySQL pool runs them on several
    // connections) may land in any order, leaving an earlier status in the store.
    const id = loop.provider.id;
    const write = (this.writing.get(id) ?? Promise.resolve())
      .then(() => this.deps.directory.writeStatus(status))
      .catch((err: unknown) => {
        this.metrics.writes.inc();
        this.deps.log.error({ err, tenantId: loop.provider.tenantId, providerId: id }, 'could not store provider status');
      });
    this.writing.set(id, write);
    void write.then(() => {
      if (this.writing.get(id) === write) this.writing.delete(id);
    });
  }

  stop(): void {
    clearInterval(this.leaseTimer);
    for (const [id, l] of this.loops) {
      l.stop(false);
      // Another node takes the provider at its next renewal instead of after the lease runs out.
      if (l.started) void this.leases.release(id).catch(() => {});
    }
    this.loops.clear();
  }
}

/** True when a change leaves the binding at the provider as it is (no need to unregister first). */
function sameRegistration(a: Provider, b: Provider): boolean {
  return (
    a.host === b.host && a.port === b.port && a.transport === b.transport && a.outboundProxy === b.outboundProxy && a.username === b.username && a.contactUser === b.contactUser
  );
}
