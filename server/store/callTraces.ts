/**
 * Call traces (the SIP messages of a call's legs): written once when the call ends, read by the
 * tenant through its scope, deleted with the call's record by the retention purge (cdrs.ts).
 */
import type { Kysely } from 'kysely';
import type { TracedMessage } from '../../contract/callTrace.ts';
import type { Database } from './schema.ts';

export interface StoredTrace {
  callId: string;
  tenantId: string;
  startedAt: number;
  messages: TracedMessage[];
  dropped: number;
}

/** Cross-tenant: the trace recorder's writes. */
export class CallTraceArchive {
  constructor(private readonly db: Kysely<Database>) {}

  async save(t: StoredTrace): Promise<void> {
    await this.db
      .insertInto('call_traces')
      .values({ call_id: t.callId, tenant_id: t.tenantId, started_at: t.startedAt, messages: JSON.stringify(t.messages), dropped: t.dropped })
      .execute();
  }
}

/** One tenant's traces: every query carries the tenant id. */
export class TenantCallTraces {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly tenantId: string,
  ) {}

  async get(callId: string): Promise<StoredTrace | undefined> {
    const r = await this.db.selectFrom('call_traces').selectAll().where('tenant_id', '=', this.tenantId).where('call_id', '=', callId).executeTakeFirst();
    return r && { callId: r.call_id, tenantId: r.tenant_id, startedAt: Number(r.started_at), messages: JSON.parse(r.messages) as TracedMessage[], dropped: Number(r.dropped) };
  }
}
