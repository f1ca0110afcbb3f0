/**
 * Recordings' rows: which call, which file (relative to DATA_DIR/recordings; the files are
 * server/recordings/'s), how long and how big. Tenant data through `TenantRecordings`; the
 * retention purge, across tenants, through `RecordingArchive`.
 */
import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

export interface RecordingsTable {
  id: string;
  tenant_id: string;
  call_id: string;
  channel_id: string;
  file: string;
  duration_ms: number;
  bytes: number;
  created_at: number;
}

export interface Recording {
  id: string;
  tenantId: string;
  callId: string;
  channelId: string;
  /** Relative to DATA_DIR/recordings. */
  file: string;
  durationMs: number;
  bytes: number;
  createdAt: number;
}

type Db = Kysely<Database & { recordings: RecordingsTable }>;

const toRecording = (r: RecordingsTable): Recording => ({
  id: r.id,
  tenantId: r.tenant_id,
  callId: r.call_id,
  channelId: r.channel_id,
  file: r.file,
  durationMs: r.duration_ms,
  bytes: Number(r.bytes),
  createdAt: Number(r.created_at),
});

export class TenantRecordings {
  private readonly db: Db;

  constructor(
    db: Kysely<Database>,
    private readonly tenantId: string,
  ) {
    this.db = db.withTables<{ recordings: RecordingsTable }>();
  }

  async add(r: Omit<Recording, 'tenantId'>): Promise<Recording> {
    const row: RecordingsTable = {
      id: r.id,
      tenant_id: this.tenantId,
      call_id: r.callId,
      channel_id: r.channelId,
      file: r.file,
      duration_ms: r.durationMs,
      bytes: r.bytes,
      created_at: r.createdAt,
    };
    await this.db.insertInto('recordings').values(row).execute();
    return toRecording(row);
  }

  /** Newest first; ids are time-ordered (UUID v7), so the last id of a page is the cursor of the next. */
  async list(filter: { callId?: string }, page: { limit: number; before?: string }): Promise<{ items: Recording[]; nextCursor: string | null }> {
    let q = this.db.selectFrom('recordings').selectAll().where('tenant_id', '=', this.tenantId);
    if (filter.callId) q = q.where('call_id', '=', filter.callId);
    if (page.before) q = q.where('id', '<', page.before);
    const rows = await q
      .orderBy('id', 'desc')
      .limit(page.limit + 1)
      .execute();
    const items = rows.slice(0, page.limit).map(toRecording);
    return { items, nextCursor: rows.length > page.limit ? items[items.length - 1]!.id : null };
  }

  async forCall(callId: string): Promise<Recording[]> {
    const rows = await this.db.selectFrom('recordings').selectAll().where('tenant_id', '=', this.tenantId).where('call_id', '=', callId).orderBy('id').execute();
    return rows.map(toRecording);
  }

  async get(id: string): Promise<Recording | undefined> {
    const r = await this.db.selectFrom('recordings').selectAll().where('tenant_id', '=', this.tenantId).where('id', '=', id).executeTakeFirst();
    return r && toRecording(r);
  }

  /** Removes the row and returns it (its file is the caller's to delete), or undefined. */
  async delete(id: string): Promise<Recording | undefined> {
    const r = await this.get(id);
    if (!r) return undefined;
    await this.db.deleteFrom('recordings').where('tenant_id', '=', this.tenantId).where('id', '=', id).execute();
    return r;
  }

  /** Bytes of the tenant's recordings, for its quota. */
  async totalBytes(): Promise<number> {
    const r = await this.db
      .selectFrom('recordings')
      .select((eb) => eb.fn.sum<number | string | null>('bytes').as('total'))
      .where('tenant_id', '=', this.tenantId)
      .executeTakeFirst();
    return Number(r?.total ?? 0);
  }
}

/** Cross-tenant: the retention purge. */
export class RecordingArchive {
  private readonly db: Db;

  constructor(db: Kysely<Database>) {
    this.db = db.withTables<{ recordings: RecordingsTable }>();
  }

  /** Up to `limit` recordings made before `cutoff`, oldest first. */
  async olderThan(cutoff: number, limit: number): Promise<Recording[]> {
    const rows = await this.db.selectFrom('recordings').selectAll().where('created_at', '<', cutoff).orderBy('created_at').limit(limit).execute();
    return rows.map(toRecording);
  }

  async remove(ids: string[]): Promise<void> {
    if (ids.length) await this.db.deleteFrom('recordings').where('id', 'in', ids).execute();
  }
}
