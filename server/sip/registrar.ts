/**
 * The registrar (RFC 3261 §10.3): authenticates REGISTER, then adds, refreshes and removes the
 * account's bindings, keeping at most `maxContacts` (the oldest go first). While the database is
 * unreachable it answers from what the node knows: the account from the cache or the node's local
 * snapshot, the changes kept in the location overlay until the database takes them
 * (server/store/locationOverlay.ts); an account it holds no copy of gets 503 with Retry-After.
 */
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { Metrics } from '../observability/metrics.ts';
import { newId, sha256Hex } from '../store/ids.ts';
import { isDatabaseUnreachable } from '../store/errors.ts';
import { LocationOverlayFullError } from '../store/locationOverlay.ts';
import { AccountUnverifiableError } from '../store/sipAccountLookup.ts';
import type { ApplyOutcome, Binding, BindingChanges, LocationStore } from '../store/registrations.ts';
import type { RequestAuthenticator } from './authenticate.ts';
import type { FlowBindings } from './flowBindings.ts';
import { headerInt, headerText, parseUri, stringifyUri, type NameAddr, type SipUri } from './message.ts';
import type { ServerTransaction } from './transactions.ts';
import type { AnyPeer } from './transport.ts';

export interface RegistrarOptions {
  domain: string;
  domainAliases: string[];
  minExpires: number;
  maxExpires: number;
  defaultExpires: number;
  maxContacts: number;
  nodeId: string;
}

interface ContactRequest {
  uri: string;
  hash: string;
  expires: number;
}

/** Retry-After of a REGISTER that cannot be verified during a database outage: spread over this range. */
const RETRY_AFTER_MIN_S = 20;
const RETRY_AFTER_MAX_S = 40;
/** Refusals this far apart belong to different outages, each announced by a warning. */
const REFUSING_EPISODE_GAP_MS = 60_000;

export class Registrar {
  private readonly domains: Set<string>;
  /** The current run of REGISTERs refused because the database is unreachable (for one warning per run). */
  private refusing: { last: number; count: number } | undefined;

  constructor(
    private readonly o: RegistrarOptions,
    private readonly auth: RequestAuthenticator,
    private readonly location: LocationStore,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    /** Bindings over connections, which live as long as their connection. */
    private readonly flows?: FlowBindings,
  ) {
    this.domains = new Set([o.domain.toLowerCase(), ...o.domainAliases]);
  }

  /** Our domain, an alias, or an IP literal (phones configured with the switch's address). */
  private serves(host: string): boolean {
    const h = host.toLowerCase();
    return this.domains.has(h) || isIP(h.replace(/^\[|\]$/g, '')) !== 0;
  }

  private outcome(tx: ServerTransaction<AnyPeer>, outcome: string, status: number, reason?: string, headers?: Record<string, unknown>): void {
    this.metrics.registerOutcomes.inc({ outcome });
    tx.respond(status, reason, headers);
  }

  async handle(tx: ServerTransaction<AnyPeer>): Promise<void> {
    try {
      await this.register(tx);
    } catch (err) {
      if (tx.answered || !(err instanceof AccountUnverifiableError || isDatabaseUnreachable(err))) throw err;
      this.cannotVerify(tx, err);
    }
  }

  /**
   * The database is unreachable and this node holds no copy of the account (cache or local
   * snapshot): 503 with a jittered Retry-After, so the phone tries again (a 500 or 403 would
   * make many give up) and phones turned away together do not come back together.
   */
  private cannotVerify(tx: ServerTransaction<AnyPeer>, err: unknown): void {
    const now = Date.now();
    const username = err instanceof AccountUnverifiableError ? err.username : undefined;
    if (!this.refusing || now - this.refusing.last > REFUSING_EPISODE_GAP_MS) {
      this.refusing = { last: now, count: 0 };
      this.log.warn(
        { username, ip: tx.source.address, code: (err as { code?: string }).code },
        'database unreachable: REGISTERs of accounts this node holds no copy of get 503 with Retry-After',
      );
    }
    this.refusing.count++;
    this.refusing.last = now;
    this.log.debug({ username, ip: tx.source.address, refused: this.refusing.count }, 'REGISTER refused: account cannot be verified now');
    const retryAfter = RETRY_AFTER_MIN_S + Math.floor(Math.random() * (RETRY_AFTER_MAX_S - RETRY_AFTER_MIN_S + 1));
    this.outcome(tx, 'unverifiable', 503, 'Service Unavailable', { 'retry-after': String(retryAfter) });
  }

  private async register(tx: ServerTransaction<AnyPeer>): Promise<void> {
    const req = tx.request;
    const aor = parseUri(req.headers.to!.uri);
    if (!aor || !aor.user || !/^sips?$/i.test(aor.schema)) return this.outcome(tx, 'bad-request', 400, 'Bad To URI');
    if (!this.serves(aor.host)) return this.outcome(tx, 'not-our-domain', 404, 'Domain Not Served Here');

    const contacts = this.readContacts(tx);
    if (!contacts) return;

    const authenticated = await this.auth.asRegistrar(tx, decodeURIComponent(aor.user));
    if (!authenticated) {
      this.metrics.registerOutcomes.inc({ outcome: tx.finalStatus === 403 ? 'forbidden' : 'challenged' });
      return;
    }
    const { account, algorithm } = authenticated;
    const now = Date.now();
    const current = await this.location.bindings(account.id, now);
    const callId = req.headers['call-id']!;
    const cseq = req.headers.cseq!.seq;

    if (contacts !== 'query') {
      const changes = this.plan(contacts, current, { callId, cseq, now, algorithm, tx, accountId: account.id, tenantId: account.tenantId });
      if (changes === 'out-of-order') return this.outcome(tx, 'out-of-order', 500, 'Out Of Order CSeq');
      let stored: ApplyOutcome;
      try {
        stored = await this.location.apply(changes, new Set(current.map((b) => b.id)));
      } catch (err) {
        if (!(err instanceof LocationOverlayFullError)) throw err;
        return this.outcome(tx, 'overlay-full', 503, 'Service Unavailable', { 'retry-after': '30' });
      }
      this.flows?.registered(tx.connection, changes.upsert, changes.remove);
      const removed = new Set(changes.remove.map((b) => b.id));
      const byId = new Map(current.filter((b) => !removed.has(b.id)).map((b) => [b.id, b]));
      for (const b of changes.upsert) byId.set(b.id, b);
      current.splice(0, current.length, ...[...byId.values()].sort((a, b) => a.createdAt - b.createdAt));
      this.log.debug({ tenantId: account.tenantId, account: account.username, bindings: current.length, stored }, 'registration updated');
    }

    const contactHeader: NameAddr[] = current.map((b) => ({
      uri: b.contactUri,
      params: { expires: String(Math.max(0, Math.round((b.expiresAt - now) / 1000))) },
    }));
    const headers: Record<string, unknown> = { date: new Date(now).toUTCString() };
    if (contactHeader.length) headers.contact = contactHeader;
    // RFC 3327 §5.3: the Path stored is echoed, so the front door and the phone see what was recorded.
    if (pathOf(req.headers.path).length) headers.path = req.headers.path;
    this.outcome(tx, contacts === 'query' ? 'query' : 'ok', 200, 'OK', headers);
  }

  /**
   * Reads the Contact header field: 'query' when there is none, the requested contacts otherwise,
   * undefined after answering an error (bad contact, interval too brief).
   */
  private readContacts(tx: ServerTransaction<AnyPeer>): 'query' | ContactRequest[] | 'remove-all' | undefined {
    const req = tx.request;
    const headerExpires = headerInt(req, 'expires');
    if (Number.isNaN(headerExpires)) {
      this.outcome(tx, 'bad-request', 400, 'Bad Expires');
      return undefined;
    }
    const contact = req.headers.contact;
    if (contact === undefined) return 'query';
    if (contact === '*') {
      if (headerExpires !== 0) {
        this.outcome(tx, 'bad-request', 400, 'Wildcard Contact Needs Expires: 0');
        return undefined;
      }
      return 'remove-all';
    }
    const list: ContactRequest[] = [];
    for (const c of contact) {
      const uri = parseUri(c.uri);
      if (!uri || !/^sips?$/i.test(uri.schema) || c.uri.length > 1024) {
        this.outcome(tx, 'bad-request', 400, 'Bad Contact');
        return undefined;
      }
      const param = c.params.expires;
      const requested = param != null ? (/^\d{1,10}$/.test(param) ? Number(param) : Number.NaN) : (headerExpires ?? this.o.defaultExpires);
      if (Number.isNaN(requested)) {
        this.outcome(tx, 'bad-request', 400, 'Bad Contact Expires');
        return undefined;
      }
      if (requested !== 0 && requested < this.o.minExpires) {
        this.outcome(tx, 'interval-too-brief', 423, 'Interval Too Brief', { 'min-expires': String(this.o.minExpires) });
        return undefined;
      }
      list.push({ uri: c.uri, hash: sha256Hex(c.uri.trim()), expires: Math.min(requested, this.o.maxExpires) });
    }
    if (list.length > this.o.maxContacts * 4) {
      this.outcome(tx, 'bad-request', 400, 'Too Many Contacts');
      return undefined;
    }
    return list;
  }

  private plan(
    contacts: ContactRequest[] | 'remove-all',
    current: Binding[],
    ctx: { callId: string; cseq: number; now: number; algorithm: string; tx: ServerTransaction<AnyPeer>; accountId: string; tenantId: string },
  ): BindingChanges | 'out-of-order' {
    if (contacts === 'remove-all') return { upsert: [], remove: [...current] };
    const upsert: Binding[] = [];
    const remove: Binding[] = [];
    const byHash = new Map(current.map((b) => [b.contactHash, b]));
    const src = ctx.tx.source;
    const path = pathOf(ctx.tx.request.headers.path);
    for (const c of contacts) {
      const existing = byHash.get(c.hash);
      // RFC 3261 §10.3 step 7: a request older than the binding it would change is refused.
      if (existing && existing.callId === ctx.callId && existing.cseq >= ctx.cseq) return 'out-of-order';
      if (c.expires === 0) {
        if (existing) remove.push(existing);
        continue;
      }
      upsert.push({
        id: existing?.id ?? newId(),
        tenantId: ctx.tenantId,
        accountId: ctx.accountId,
        contactHash: c.hash,
        contactUri: c.uri,
        callId: ctx.callId,
        cseq: ctx.cseq,
        expiresAt: ctx.now + c.expires * 1000,
        sourceIp: src.address,
        sourcePort: src.port,
        transport: src.transport,
        userAgent: headerText(ctx.tx.request, 'user-agent')?.slice(0, 255) ?? null,
        algorithm: ctx.algorithm,
        nodeId: this.o.nodeId,
        ...(path.length ? { path } : {}),
        createdAt: existing?.createdAt ?? ctx.now,
        updatedAt: ctx.now,
      });
    }
    // Over the cap: evict the oldest bindings that this request does not refresh.
    const kept = current.filter((b) => !remove.includes(b) && !upsert.some((u) => u.id === b.id));
    const fresh = upsert.filter((u) => !byHash.has(u.contactHash));
    let excess = kept.length + upsert.length - this.o.maxContacts;
    for (const b of kept) {
      if (excess <= 0) break;
      remove.push(b);
      excess--;
    }
    // A single request asking for more contacts than the cap keeps its last ones.
    while (excess > 0 && fresh.length) {
      const dropped = fresh.shift()!;
      upsert.splice(upsert.indexOf(dropped), 1);
      excess--;
    }
    return { upsert, remove };
  }
}

/** The URIs of a Path header field (RFC 3327), in order: the proxies a request to the phone goes through. */
function pathOf(header: unknown): string[] {
  if (!Array.isArray(header)) return [];
  return (header as Array<{ uri: string | SipUri }>).map((p) => (typeof p.uri === 'string' ? p.uri : stringifyUri(p.uri))).filter((u) => u.length <= 1024);
}
