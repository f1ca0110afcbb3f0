import type { Kysely } from 'kysely';
import { retryOnConflict } from './errors.ts';
import type { Database } from './schema.ts';

export interface LiveCallRow {
  callId: string;
  tenantId: string;
  nodeId: string;
  state: unknown;
  updatedAt: number;
}

/** The restart state of live calls, written in batches as calls change, read back by their node. */
export class LiveCallStore {
  constructor(private readonly db: Kysely<Database>) {}

  /** Upserts and deletes in one transaction. */
  async write(upserts: LiveCallRow[], deletes: string[]): Promise<void> {
    if (!upserts.length && !deletes.length) return;
    await retryOnConflict(() =>
      this.db.transaction().execute(async (trx) => {
        const ids = [...deletes, ...upserts.map((u) => u.callId)];
        if (ids.length) await trx.deleteFrom('live_calls').where('call_id', 'in', ids).execute();
        if (upserts.length) {
          await trx
            .insertInto('live_calls')
            .values(upserts.map((u) => ({ call_id: u.callId, tenant_id: u.tenantId, node_id: u.nodeId, state: JSON.stringify(u.state), updated_at: u.updatedAt })))
            .execute();
        }
      }),
    );
  }

  async forNode(nodeId: string): Promise<LiveCallRow[]> {
    const rows = await this.db.selectFrom('live_calls').selectAll().where('node_id', '=', nodeId).execute();
    return rows.map((r) => ({ callId: r.call_id, tenantId: r.tenant_id, nodeId: r.node_id, state: JSON.parse(r.state), updatedAt: Number(r.updated_at) }));
  }

  async get(callId: string): Promise<LiveCallRow | undefined> {
    const r = await this.db.selectFrom('live_calls').selectAll().where('call_id', '=', callId).executeTakeFirst();
    return r && { callId: r.call_id, tenantId: r.tenant_id, nodeId: r.node_id, state: JSON.parse(r.state), updatedAt: Number(r.updated_at) };
  }
}
