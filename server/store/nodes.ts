/**
 * The nodes of a cluster sharing this database: each writes its heartbeat here, the others read
 * who is up, and when one stops beating a survivor claims it with one conditional update (so
 * exactly one survivor ends its calls) before taking over what it held.
 */
import type { Kysely, Selectable } from 'kysely';
import { isUniqueViolation } from './errors.ts';
import type { Database, NodesTable } from './schema.ts';

export interface NodeRecord {
  id: string;
  sipAddress: string;
  httpUrl: string;
  startedAt: number;
  heartbeatAt: number;
  stoppedAt: number | null;
  takenOverBy: string | null;
  takenOverAt: number | null;
}

function toRecord(r: Selectable<NodesTable>): NodeRecord {
  return {
    id: r.id,
    sipAddress: r.sip_address,
    httpUrl: r.http_url,
    startedAt: Number(r.started_at),
    heartbeatAt: Number(r.heartbeat_at),
    stoppedAt: r.stopped_at === null ? null : Number(r.stopped_at),
    takenOverBy: r.taken_over_by,
    takenOverAt: r.taken_over_at === null ? null : Number(r.taken_over_at),
  };
}

export class NodeDirectory {
  constructor(private readonly db: Kysely<Database>) {}

  /** A node (re)starting: its addresses and a first heartbeat; whatever a previous run left is cleared. */
  async started(node: { id: string; sipAddress: string; httpUrl: string }, now = Date.now()): Promise<void> {
    const row = { sip_address: node.sipAddress, http_url: node.httpUrl, started_at: now, heartbeat_at: now, stopped_at: null, taken_over_by: null, taken_over_at: null };
    const updated = await this.db.updateTable('nodes').set(row).where('id', '=', node.id).executeTakeFirst();
    if (Number(updated.numUpdatedRows) > 0) return;
    try {
      await this.db
        .insertInto('nodes')
        .values({ id: node.id, ...row })
        .execute();
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await this.db.updateTable('nodes').set(row).where('id', '=', node.id).execute();
    }
  }

  async heartbeat(id: string, now = Date.now()): Promise<void> {
    await this.db.updateTable('nodes').set({ heartbeat_at: now }).where('id', '=', id).execute();
  }

  /** A clean stop: its calls are persisted for its restart, so nobody takes it over. */
  async stopped(id: string, now = Date.now()): Promise<void> {
    await this.db.updateTable('nodes').set({ stopped_at: now, heartbeat_at: now }).where('id', '=', id).execute();
  }

  async list(): Promise<NodeRecord[]> {
    const rows = await this.db.selectFrom('nodes').selectAll().orderBy('id').execute();
    return rows.map(toRecord);
  }

  /**
   * What each node holds now, by node id: its calls in progress (their persisted restart state)
   * and its phones' unexpired registrations. A node holding nothing is absent.
   */
  async held(now = Date.now()): Promise<Map<string, { calls: number; registrations: number }>> {
    const [calls, registrations] = await Promise.all([
      this.db
        .selectFrom('live_calls')
        .select((eb) => ['node_id', eb.fn.countAll().as('n')])
        .groupBy('node_id')
        .execute(),
      this.db
        .selectFrom('registrations')
        .select((eb) => ['node_id', eb.fn.countAll().as('n')])
        .where('expires_at', '>', now)
        .groupBy('node_id')
        .execute(),
    ]);
    const out = new Map<string, { calls: number; registrations: number }>();
    const at = (id: string) => out.get(id) ?? out.set(id, { calls: 0, registrations: 0 }).get(id)!;
    for (const r of calls) at(r.node_id).calls = Number(r.n);
    for (const r of registrations) at(r.node_id).registrations = Number(r.n);
    return out;
  }

  /** Nodes that stopped beating before `silentSince` without stopping cleanly, and that nobody claimed yet. */
  async dead(silentSince: number): Promise<NodeRecord[]> {
    const rows = await this.db.selectFrom('nodes').selectAll().where('heartbeat_at', '<', silentSince).where('stopped_at', 'is', null).where('taken_over_by', 'is', null).execute();
    return rows.map(toRecord);
  }

  /** Claims a dead node for `survivor`; true for the one survivor whose claim took. */
  async claim(deadId: string, survivor: string, silentSince: number, now = Date.now()): Promise<boolean> {
    const r = await this.db
      .updateTable('nodes')
      .set({ taken_over_by: survivor, taken_over_at: now })
      .where('id', '=', deadId)
      .where('heartbeat_at', '<', silentSince)
      .where('stopped_at', 'is', null)
      .where('taken_over_by', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }
}
