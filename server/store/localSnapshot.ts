/**
 * A sealed copy, on the node's own disk, of what it needs to serve phones while the database
 * cannot be reached: today the SIP accounts' credentials (HA1 digests, algorithms, enabled flag,
 * tenant, dialplan names). `SipAccountLookup` reads it only when the database is unreachable and
 * its cache holds nothing for the name asked about; it is kept fresh by `refresh` (at start, at
 * an interval, and soon after this node changes an account).
 *
 * The file holds credential equivalents (an HA1 digest lets whoever holds it register as the
 * phone), so it is sealed with the credentials cipher (AES-256-GCM; without the key it opens to
 * nothing), written with mode 0600, and replaced whole and fsynced (`replaceDurably`), so a crash
 * leaves the old snapshot or the new one, never a mix.
 *
 * Its shape is a versioned envelope of named sections, each with the time it was read, so that it
 * can grow into what a node needs to *start* while the database is down (dialplans, providers,
 * tenant settings): a reader takes the sections it knows and treats a missing one as not held.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Sealer } from './sealer.ts';
import { replaceDurably } from './durableFile.ts';
import type { SipAccount } from './sipAccounts.ts';

export const LOCAL_SNAPSHOT_FILE = 'local-snapshot.sealed';
const FORMAT = 1;
/** Binds the sealed bytes to their purpose: a sealed provider password pasted here does not open. */
const AAD = 'sipswitch local snapshot';

/** What a snapshot holds, section by section; each section is optional to its readers. */
export interface SnapshotSections {
  sipAccounts: SipAccount[];
}

interface Envelope {
  format: number;
  nodeId: string;
  takenAt: number;
  sections: { [K in keyof SnapshotSections]?: { takenAt: number; rows: SnapshotSections[K] } };
}

export interface LocalSnapshotOptions {
  /** DATA_DIR: the snapshot is `LOCAL_SNAPSHOT_FILE` in it. */
  dir: string;
  cipher: Sealer;
  nodeId: string;
  log: Logger;
  registry?: Registry;
  /** Reads every section from the database. */
  read: () => Promise<SnapshotSections>;
}

interface Loaded {
  takenAt: number;
  accounts: Map<string, SipAccount>;
}

export class LocalSnapshot {
  readonly file: string;
  /** The accounts of the file on disk, decoded on the first lookup that needs them. */
  private loaded: Promise<Loaded | undefined> | undefined;
  /** Hash of the sections last written (or found on disk), so an unchanged refresh writes nothing. */
  private writtenHash: string | undefined;
  private refreshing: Promise<'written' | 'unchanged'> | undefined;
  private soon: NodeJS.Timeout | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failing = false;
  private readonly metrics: { lookups: Counter<'result'>; accounts: Gauge; takenAt: Gauge } | undefined;

  constructor(private readonly o: LocalSnapshotOptions) {
    this.file = path.join(o.dir, LOCAL_SNAPSHOT_FILE);
    const registers = o.registry ? [o.registry] : undefined;
    this.metrics = registers && {
      lookups: new Counter({
        name: 'local_snapshot_lookups_total',
        help: 'SIP accounts looked up in the local snapshot because the database was unreachable and not cached: found, absent (not in the snapshot) or unreadable (no usable snapshot)',
        labelNames: ['result'] as const,
        registers,
      }),
      accounts: new Gauge({ name: 'local_snapshot_accounts', help: 'SIP accounts in the local snapshot last written', registers }),
      takenAt: new Gauge({ name: 'local_snapshot_taken_timestamp_seconds', help: 'When the local snapshot last written was read from the database', registers }),
    };
  }

  /** Reads the database and replaces the file if what it holds changed; rejects if either fails. */
  refresh(): Promise<'written' | 'unchanged'> {
    this.refreshing ??= this.writeFresh().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  /** A refresh shortly (changes made in a burst share one), for this node's own account changes. */
  refreshSoon(delayMs = 1000): void {
    if (this.soon) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.refresh().catch(() => {});
    }, delayMs);
    this.soon.unref();
  }

  /**
   * The account of `username` as of the snapshot on disk, undefined when it is not in it or there
   * is no snapshot that opens (then the caller cannot verify the account).
   */
  async account(username: string): Promise<SipAccount | undefined> {
    const loaded = await (this.loaded ??= this.load());
    const account = loaded?.accounts.get(username);
    this.metrics?.lookups.inc({ result: !loaded ? 'unreadable' : account ? 'found' : 'absent' });
    return account;
  }

  /** Refreshes now and then every `intervalMs` (jittered, so nodes do not read in step) until `stop`. */
  keepFresh(intervalMs: number): void {
    const round = (delayMs: number) => {
      this.timer = setTimeout(() => {
        void this.refresh()
          .catch(() => {})
          .finally(() => {
            if (this.timer) round(intervalMs * (0.9 + Math.random() * 0.2));
          });
      }, delayMs);
      this.timer.unref();
    };
    round(0);
  }

  /** No more refreshes; one under way finishes first. */
  async stop(): Promise<void> {
    clearTimeout(this.soon);
    clearTimeout(this.timer);
    this.soon = undefined;
    this.timer = undefined;
    await this.refreshing?.catch(() => {});
  }

  private async writeFresh(): Promise<'written' | 'unchanged'> {
    try {
      const sections = await this.o.read();
      const takenAt = Date.now();
      const hash = createHash('sha256').update(JSON.stringify(sections)).digest('hex');
      if (hash === this.writtenHash) return this.ok('unchanged');
      const envelope: Envelope = {
        format: FORMAT,
        nodeId: this.o.nodeId,
        takenAt,
        sections: { sipAccounts: { takenAt, rows: sections.sipAccounts } },
      };
      await mkdir(this.o.dir, { recursive: true });
      await replaceDurably(this.file, this.o.cipher.seal(JSON.stringify(envelope), AAD), 0o600);
      this.writtenHash = hash;
      this.metrics?.accounts.set(sections.sipAccounts.length);
      this.metrics?.takenAt.set(takenAt / 1000);
      return this.ok('written');
    } catch (err) {
      if (!this.failing)
        this.o.log.warn({ err, file: this.file }, 'cannot refresh the local snapshot: during a database outage this node verifies phones against an older one (or only its cache)');
      this.failing = true;
      throw err;
    }
  }

  private ok(outcome: 'written' | 'unchanged'): 'written' | 'unchanged' {
    // The database answers: what was decoded for an outage is not needed until the next one.
    this.loaded = undefined;
    if (this.failing) this.o.log.info({ file: this.file }, 'local snapshot refreshed again');
    this.failing = false;
    return outcome;
  }

  private async load(): Promise<Loaded | undefined> {
    let sealed: string;
    try {
      sealed = await readFile(this.file, 'utf8');
    } catch (err) {
      this.o.log.error({ err, file: this.file }, 'database unreachable and no local snapshot to read: phones this node has not cached cannot register');
      return undefined;
    }
    try {
      const envelope = JSON.parse(this.o.cipher.open(sealed, AAD)) as Envelope;
      if (envelope.format !== FORMAT) throw new Error(`unknown snapshot format ${envelope.format}`);
      const section = envelope.sections.sipAccounts;
      const accounts = new Map((section?.rows ?? []).map((a) => [a.username, a]));
      const takenAt = section?.takenAt ?? envelope.takenAt;
      this.o.log.warn(
        { file: this.file, accounts: accounts.size, takenAt: new Date(takenAt).toISOString(), ageS: Math.round((Date.now() - takenAt) / 1000) },
        'database unreachable: verifying phones against the local snapshot',
      );
      return { takenAt, accounts };
    } catch (err) {
      this.o.log.error(
        { err, file: this.file },
        'the local snapshot does not open (another credentials key? damaged?): phones this node has not cached cannot register during the outage',
      );
      return undefined;
    }
  }
}
