import type { Kysely } from 'kysely';
import { tenantKey, type ReadThroughCache } from './cache.ts';
import { isRetryableConflict, isUniqueViolation } from './errors.ts';
import { newId } from './ids.ts';
import type { Database } from './schema.ts';

export interface DialplanSummary {
  name: string;
  version: number;
  createdAt: number;
  updatedAt: number;
}

export interface DialplanVersion {
  version: number;
  source: string;
  createdAt: number;
}

export interface Dialplan extends DialplanSummary {
  source: string;
  versions: Array<{ version: number; createdAt: number }>;
}

export class DialplanExistsError extends Error {
  constructor(name: string) {
    super(`dialplan ${name} exists`);
  }
}

export type CurrentDialplan = { version: number; source: string };

/**
 * One tenant's dialplans. Saving never overwrites: it adds a version and points the dialplan at it.
 * What calls run is read through a per-node cache that this node's saves, restores and deletes
 * invalidate; other nodes pick a change up within the cache's TTL.
 */
export class TenantDialplans {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly tenantId: string,
    private readonly runnable: ReadThroughCache<CurrentDialplan | undefined>,
  ) {}

  async list(): Promise<DialplanSummary[]> {
    const rows = await this.db.selectFrom('dialplans').selectAll().where('tenant_id', '=', this.tenantId).orderBy('name').execute();
    return rows.map((r) => ({ name: r.name, version: r.current_version, createdAt: Number(r.created_at), updatedAt: Number(r.updated_at) }));
  }

  /** The current version's source and the list of versions; undefined when there is no such dialplan. */
  async get(name: string): Promise<Dialplan | undefined> {
    const d = await this.db.selectFrom('dialplans').selectAll().where('tenant_id', '=', this.tenantId).where('name', '=', name).executeTakeFirst();
    if (!d) return undefined;
    const versions = await this.db
      .selectFrom('dialplan_versions')
      .select(['version', 'created_at', 'source'])
      .where('tenant_id', '=', this.tenantId)
      .where('dialplan_id', '=', d.id)
      .orderBy('version', 'desc')
      .execute();
    const current = versions.find((v) => v.version === d.current_version);
    return {
      name: d.name,
      version: d.current_version,
      source: current?.source ?? '',
      createdAt: Number(d.created_at),
      updatedAt: Number(d.updated_at),
      versions: versions.map((v) => ({ version: v.version, createdAt: Number(v.created_at) })),
    };
  }

  /** What a call runs: the current version, from the cache (served last known while the database is unreachable). */
  currentCached(name: string): Promise<CurrentDialplan | undefined> {
    return this.runnable.get(tenantKey(this.tenantId, name), () => this.current(name));
  }

  /** What to run: the current version's number and source, read from the database. */
  async current(name: string): Promise<CurrentDialplan | undefined> {
    const r = await this.db
      .selectFrom('dialplans')
      .innerJoin('dialplan_versions', (j) => j.onRef('dialplan_versions.dialplan_id', '=', 'dialplans.id').onRef('dialplan_versions.version', '=', 'dialplans.current_version'))
      .select(['dialplan_versions.version', 'dialplan_versions.source'])
      .where('dialplans.tenant_id', '=', this.tenantId)
      .where('dialplans.name', '=', name)
      .executeTakeFirst();
    return r && { version: r.version, source: r.source };
  }

  async version(name: string, version: number): Promise<DialplanVersion | undefined> {
    const r = await this.db
      .selectFrom('dialplan_versions')
      .innerJoin('dialplans', 'dialplans.id', 'dialplan_versions.dialplan_id')
      .select(['dialplan_versions.version', 'dialplan_versions.source', 'dialplan_versions.created_at'])
      .where('dialplans.tenant_id', '=', this.tenantId)
      .where('dialplan_versions.tenant_id', '=', this.tenantId)
      .where('dialplans.name', '=', name)
      .where('dialplan_versions.version', '=', version)
      .executeTakeFirst();
    return r && { version: r.version, source: r.source, createdAt: Number(r.created_at) };
  }

  /** Creates the dialplan at version 1; throws DialplanExistsError when the name is taken. */
  async create(name: string, source: string, now = Date.now()): Promise<number> {
    const id = newId();
    try {
      await this.db.transaction().execute(async (trx) => {
        await trx.insertInto('dialplans').values({ id, tenant_id: this.tenantId, name, current_version: 1, created_at: now, updated_at: now }).execute();
        await trx.insertInto('dialplan_versions').values({ id: newId(), dialplan_id: id, tenant_id: this.tenantId, version: 1, source, created_at: now }).execute();
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new DialplanExistsError(name);
      throw err;
    }
    this.runnable.invalidate(tenantKey(this.tenantId, name));
    return 1;
  }

  /** Adds a version (creating the dialplan if needed); returns its number. */
  async save(name: string, source: string, now = Date.now()): Promise<number> {
    for (let attempt = 0; attempt < 6; attempt++) {
      const d = await this.db.selectFrom('dialplans').select(['id', 'current_version']).where('tenant_id', '=', this.tenantId).where('name', '=', name).executeTakeFirst();
      try {
        if (!d) return await this.create(name, source, now);
        const latest = await this.db
          .selectFrom('dialplan_versions')
          .select((eb) => eb.fn.max('version').as('v'))
          .where('dialplan_id', '=', d.id)
          .executeTakeFirstOrThrow();
        const version = Number(latest.v ?? 0) + 1;
        await this.db.transaction().execute(async (trx) => {
          await trx.insertInto('dialplan_versions').values({ id: newId(), dialplan_id: d.id, tenant_id: this.tenantId, version, source, created_at: now }).execute();
          await trx.updateTable('dialplans').set({ current_version: version, updated_at: now }).where('id', '=', d.id).execute();
        });
        this.runnable.invalidate(tenantKey(this.tenantId, name));
        return version;
      } catch (err) {
        // Two saves raced for the same version number or name: read again and retry.
        if (!(err instanceof DialplanExistsError) && !isUniqueViolation(err) && !isRetryableConflict(err)) throw err;
        await new Promise((r) => setTimeout(r, Math.random() * 20 * (attempt + 1)));
      }
    }
    throw new Error(`could not save dialplan ${name}: concurrent saves`);
  }

  async delete(name: string): Promise<boolean> {
    const r = await this.db.deleteFrom('dialplans').where('tenant_id', '=', this.tenantId).where('name', '=', name).executeTakeFirst();
    this.runnable.invalidate(tenantKey(this.tenantId, name));
    return Number(r.numDeletedRows) > 0;
  }
}
