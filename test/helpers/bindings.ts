/** Many registrations at once, written straight to the table (the registrar would take minutes). */
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { newId } from '../../server/store/ids.ts';
import type { Database, RegistrationsTable } from '../../server/store/schema.ts';

export function bindingRow(tenantId: string, accountId: string, o: { expiresAt?: number; n?: number } = {}): RegistrationsTable {
  const now = Date.now();
  const n = o.n ?? 0;
  return {
    id: newId(),
    tenant_id: tenantId,
    account_id: accountId,
    contact_hash: randomBytes(16).toString('hex'),
    contact_uri: `sip:phone${n}@192.0.2.${n % 250}:${5060 + (n % 1000)};transport=udp`,
    call_id: `${randomBytes(8).toString('hex')}@phone`,
    cseq: 1,
    expires_at: o.expiresAt ?? now + 3600_000,
    source_ip: `192.0.2.${n % 250}`,
    source_port: 5060 + (n % 1000),
    transport: 'udp',
    user_agent: 'Test Phone/1.0 (a user agent string about as long as real ones are)',
    algorithm: 'MD5',
    node_id: 'test-node',
    path: null,
    created_at: now,
    updated_at: now,
  };
}

export async function insertBindings(db: Kysely<Database>, rows: RegistrationsTable[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 500)
    await db
      .insertInto('registrations')
      .values(rows.slice(i, i + 500))
      .execute();
}
