import ivm from 'isolated-vm';
import type { DiscardReason } from './protocol.ts';

/** Dialplan versions kept per isolate, each with its compiled script and warm contexts (a tenant runs few at a time). */
const VERSIONS_PER_ISOLATE = 8;

export interface WarmPolicy {
  /** Executions after which a context is discarded (1: a fresh context for each). */
  maxExecutions: number;
  /** A context idle this long is discarded. */
  idleMs: number;
}

/** What the pool needs of its isolate: it never creates anything there itself. */
export interface WarmIsolate {
  /** Compiles the script that turns a new context into a warm one for this version's code. */
  compile(code: string): Promise<ivm.Script>;
  /** A new, empty context. */
  createContext(): Promise<ivm.Context>;
  /** Runs the compiled script in the context: the prelude's `start`, no tenant code. */
  install(script: ivm.Script, context: ivm.Context): Promise<ivm.Reference>;
  readonly disposed: boolean;
  discarded(reason: DiscardReason): void;
}

/** A context prepared for one dialplan version: the prelude installed, its `start` in hand. */
export interface WarmContext {
  readonly version: Version;
  readonly context: ivm.Context;
  /** `start(host, call, timeZone)` in the context: one execution, resolving with its result JSON. */
  readonly start: ivm.Reference;
  executions: number;
  idleSince: number;
}

interface Version {
  readonly key: string;
  readonly script: Promise<ivm.Script>;
  /** Contexts waiting for an execution, most recently used last. */
  readonly idle: WarmContext[];
  /** A context being prepared ahead, not yet claimed by an execution (once ready, it waits with the idle ones). */
  ahead: Promise<WarmContext> | null;
  /** Contexts being prepared: the script is released only once none is. */
  preparing: number;
  /** Evicted (too many versions): its contexts are discarded as they come back. */
  evicted: boolean;
}

/**
 * The warm contexts of one tenant isolate, by dialplan version. A context serves one execution at
 * a time and then waits for the next execution of the same version; concurrent executions each
 * get their own (the global API reaches the one execution running in a context, see prelude.ts).
 * A context is discarded after `maxExecutions`, after `idleMs` unused, after an execution in it
 * did not complete (an error, a time-out, an abandoned or ended execution), while the isolate's
 * heap is over its limit, and with its version when the isolate holds too many versions. A
 * version's key covers its name, number and source, so no other version, of this tenant or of
 * anyone (isolates are per tenant), ever gets one of its contexts.
 *
 * When an execution takes a version's last idle context, another one is prepared behind its start
 * (a new context and the prelude, no tenant code), so a burst of concurrent executions, and the
 * successor of a context used up, does not pay `createContext` on its path.
 */
export class WarmPool {
  private readonly versions = new Map<string, Version>();
  /** Contexts alive: idle, running an execution, or prepared ahead. */
  size = 0;
  /** The isolate's heap is over the limit: contexts are discarded instead of reused. */
  private heapOver = false;

  constructor(
    private readonly isolate: WarmIsolate,
    private readonly policy: WarmPolicy,
  ) {}

  /**
   * Claims a context for one execution of the version `key` (whose prepared code is `code`): an
   * idle one, else the one being prepared ahead, else a new one. The claim is made before this
   * returns, so a context never serves two executions at once.
   */
  acquire(key: string, code: string, now = Date.now()): Promise<WarmContext> {
    const version = this.version(key, code);
    for (let warm = version.idle.pop(); warm; warm = version.idle.pop()) {
      const stale = this.staleness(warm, now);
      if (!stale) return Promise.resolve(warm);
      this.discard(warm, stale);
    }
    const ahead = version.ahead;
    version.ahead = null;
    return ahead ?? this.prepare(version);
  }

  /** After an execution's start is queued: its version gets a context ahead if it has none idle. */
  prepareAhead(warm: WarmContext): void {
    const version = warm.version;
    if (version.idle.length > 0 || version.ahead || version.evicted || this.isolate.disposed) return;
    const ahead = this.prepare(version);
    version.ahead = ahead;
    ahead.then(
      (warm) => {
        if (version.ahead !== ahead) return; // claimed by an execution, or cleared with its isolate
        version.ahead = null;
        if (version.evicted) this.discard(warm, 'version');
        else version.idle.unshift(warm); // never used: behind the ones that were
      },
      () => {
        if (version.ahead === ahead) version.ahead = null;
      },
    );
  }

  /** An execution in `warm` ended; `failed` when it did not complete (the context is then discarded). */
  release(warm: WarmContext, failed: boolean, now = Date.now()): void {
    warm.executions += 1;
    warm.idleSince = now;
    const reason: DiscardReason | null = failed ? 'failure' : warm.version.evicted ? 'version' : this.staleness(warm, now);
    if (reason) this.discard(warm, reason);
    else warm.version.idle.push(warm);
  }

  /** The latest heap sample: over the limit, every idle context goes, and running ones when they end. */
  heap(over: boolean): void {
    this.heapOver = over;
    if (over) this.discardIdle(() => 'heap');
  }

  /** Discards contexts idle too long (the watchdog calls this now and then). */
  sweep(now = Date.now()): void {
    this.discardIdle((warm) => (now - warm.idleSince >= this.policy.idleMs ? 'idle' : null));
  }

  /** The isolate was disposed, and its idle contexts with it: only counted (running ones fail and are released). */
  clear(): void {
    for (const version of this.versions.values()) {
      for (const warm of version.idle) this.discard(warm, 'isolate');
      version.idle.length = 0;
      version.ahead?.then(
        (warm) => this.discard(warm, 'isolate'),
        () => {},
      );
      version.ahead = null;
    }
    this.versions.clear();
  }

  private staleness(warm: WarmContext, now: number): DiscardReason | null {
    if (warm.executions >= this.policy.maxExecutions) return 'count';
    if (now - warm.idleSince >= this.policy.idleMs) return 'idle';
    if (this.heapOver) return 'heap';
    return null;
  }

  private discardIdle(reasonFor: (warm: WarmContext) => DiscardReason | null): void {
    for (const version of this.versions.values()) {
      const keep: WarmContext[] = [];
      for (const warm of version.idle) {
        const reason = reasonFor(warm);
        if (reason) this.discard(warm, reason);
        else keep.push(warm);
      }
      version.idle.splice(0, version.idle.length, ...keep);
    }
  }

  private discard(warm: WarmContext, reason: DiscardReason): void {
    this.size -= 1;
    this.isolate.discarded(reason);
    if (this.isolate.disposed) return;
    warm.start.release();
    warm.context.release();
  }

  private async prepare(version: Version): Promise<WarmContext> {
    version.preparing += 1;
    try {
      const context = await this.isolate.createContext();
      try {
        const start = await this.isolate.install(await version.script, context);
        this.size += 1;
        return { version, context, start, executions: 0, idleSince: Date.now() };
      } catch (err) {
        if (!this.isolate.disposed) context.release();
        throw err;
      }
    } finally {
      version.preparing -= 1;
      if (version.evicted && version.preparing === 0) this.releaseScript(version);
    }
  }

  /** The version `key`, most recently used last; the least recently used goes past VERSIONS_PER_ISOLATE. */
  private version(key: string, code: string): Version {
    let version = this.versions.get(key);
    if (version) {
      this.versions.delete(key);
    } else {
      version = { key, script: this.isolate.compile(code), idle: [], ahead: null, preparing: 0, evicted: false };
      const created = version;
      // A failed compile is not kept: the next execution tries again.
      created.script.catch(() => this.versions.get(key) === created && this.versions.delete(key));
      if (this.versions.size >= VERSIONS_PER_ISOLATE) this.evict(this.versions.values().next().value as Version);
    }
    this.versions.set(key, version);
    return version;
  }

  private evict(version: Version): void {
    this.versions.delete(version.key);
    version.evicted = true;
    for (const warm of version.idle) this.discard(warm, 'version');
    version.idle.length = 0;
    const ahead = version.ahead;
    version.ahead = null;
    ahead?.then(
      (warm) => this.discard(warm, 'version'),
      () => {},
    );
    if (version.preparing === 0) this.releaseScript(version);
  }

  private releaseScript(version: Version): void {
    version.script.then(
      (s) => !this.isolate.disposed && s.release(),
      () => {},
    );
  }
}
