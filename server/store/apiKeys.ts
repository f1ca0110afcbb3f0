import type { Kysely, Selectable } from 'kysely';
import { newId, newSecret, sha256Hex } from './ids.ts';
import type { ApiKeysTable, Database } from './schema.ts';

/** `read-only` keys may only read (GET, HEAD); `full` keys may do what the portal does. */
export const API_KEY_SCOPES = ['full', 'read-only'] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  scope: ApiKeyScope;
  /** Epoch ms after which the key is refused; null: never. */
  expiresAt: number | null;
  createdAt: number;
  lastUsedAt: number | null;
}

export interface ApiKeyOptions {
  /** Default `full`. */
  scope?: ApiKeyScope;
  /** Default null: never expires. */
  expiresAt?: number | null;
}

/** Rows written before scopes existed, or by hand, read as full keys. */
export const storedScope = (stored: string): ApiKeyScope => (stored === 'read-only' ? 'read-only' : 'full');

function toApiKey(r: Selectable<ApiKeysTable>): ApiKey {
  return {
    id: r.id,
    name: r.name,
    prefix: r.prefix,
    scope: storedScope(r.scope),
    expiresAt: r.expires_at === null ? null : Number(r.expires_at),
    createdAt: Number(r.created_at),
    lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at),
  };
}

export class TenantApiKeys {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly tenantId: string,
  ) {}

  /** Creates a key; the secret is returned here once and only its hash is kept. */
  async create(name: string, o: ApiKeyOptions = {}, now = Date.now()): Promise<{ key: ApiKey; secret: string }> {
    const secret = newSecret('sk');
    const row: ApiKeysTable = {
      id: newId(),
      tenant_id: this.tenantId,
      name,
      token_hash: sha256Hex(secret),
      prefix: secret.slice(0, 10),
      scope: o.scope ?? 'full',
      expires_at: o.expiresAt ?? null,
      created_at: now,
      last_used_at: null,
    };
    await this.db.insertInto('api_keys').values(row).execute();
    return { key: toApiKey(row), secret };
  }

  async list(): Promise<ApiKey[]> {
    const rows = await this.db.selectFrom('api_keys').selectAll().where('tenant_id', '=', this.tenantId).orderBy('created_at').execute();
    return rows.map(toApiKey);
  }

  async delete(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('api_keys').where('tenant_id', '=', this.tenantId).where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
