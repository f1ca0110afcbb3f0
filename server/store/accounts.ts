/**
 * Tenants, portal users, sessions and API keys. Lookups that must work before a tenant is known
 * (login, cookie, bearer key) live here; everything else is reached through a TenantScope.
 */
import type { Kysely } from 'kysely';
import { isUniqueViolation } from './errors.ts';
import { storedScope } from './apiKeys.ts';
import { newId, sha256Hex } from './ids.ts';
import type { Database } from './schema.ts';

export interface UserRow {
  id: string;
  tenantId: string;
  email: string;
  passwordHash: string;
}

export interface Principal {
  tenantId: string;
  userId: string | null;
  via: 'session' | 'api-key';
  /** A read-only API key: safe methods only. */
  readOnly: boolean;
}

/** What a bearer key is: a caller, a key that has expired (and when), or nothing we know. */
export type ApiKeyLookup = { principal: Principal } | { expiredAt: number } | undefined;

export class EmailTakenError extends Error {
  constructor() {
    super('email already registered');
  }
}

export class AccountDirectory {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * A new tenant has international calls off (toll-fraud guard) until it turns them on. With
   * `dialplan`, the tenant starts with that dialplan stored at version 1, created in the same
   * transaction: a tenant never exists without the dialplan its sign-up promised.
   */
  async createTenantWithOwner(
    email: string,
    passwordHash: string,
    tenant: { country?: string | null; dialplan?: { name: string; source: string } } = {},
    now = Date.now(),
  ): Promise<UserRow> {
    const tenantId = newId();
    const userId = newId();
    try {
      await this.db.transaction().execute(async (trx) => {
        await trx
          .insertInto('tenants')
          .values({ id: tenantId, name: email, time_zone: 'UTC', country: tenant.country ?? null, international_calls: 0, created_at: now })
          .execute();
        await trx.insertInto('users').values({ id: userId, tenant_id: tenantId, email, password_hash: passwordHash, created_at: now }).execute();
        if (tenant.dialplan) {
          const dialplanId = newId();
          await trx
            .insertInto('dialplans')
            .values({ id: dialplanId, tenant_id: tenantId, name: tenant.dialplan.name, current_version: 1, created_at: now, updated_at: now })
            .execute();
          await trx
            .insertInto('dialplan_versions')
            .values({ id: newId(), dialplan_id: dialplanId, tenant_id: tenantId, version: 1, source: tenant.dialplan.source, created_at: now })
            .execute();
        }
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new EmailTakenError();
      throw err;
    }
    return { id: userId, tenantId, email, passwordHash };
  }

  async findUserByEmail(email: string): Promise<UserRow | undefined> {
    const r = await this.db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirst();
    return r && { id: r.id, tenantId: r.tenant_id, email: r.email, passwordHash: r.password_hash };
  }

  async findUser(userId: string): Promise<UserRow | undefined> {
    const r = await this.db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirst();
    return r && { id: r.id, tenantId: r.tenant_id, email: r.email, passwordHash: r.password_hash };
  }

  async setPassword(userId: string, passwordHash: string): Promise<void> {
    await this.db.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', userId).execute();
  }

  async createSession(user: UserRow, token: string, ttlMs: number, now = Date.now()): Promise<void> {
    await this.db
      .insertInto('sessions')
      .values({ id: sha256Hex(token), user_id: user.id, tenant_id: user.tenantId, expires_at: now + ttlMs, created_at: now })
      .execute();
  }

  async principalForSession(token: string, now = Date.now()): Promise<Principal | undefined> {
    const r = await this.db.selectFrom('sessions').select(['tenant_id', 'user_id']).where('id', '=', sha256Hex(token)).where('expires_at', '>', now).executeTakeFirst();
    return r && { tenantId: r.tenant_id, userId: r.user_id, via: 'session', readOnly: false };
  }

  async deleteSession(token: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('id', '=', sha256Hex(token)).execute();
  }

  /** Logs a user out everywhere except the session holding `keepToken` (after a password change). */
  async deleteOtherSessions(userId: string, keepToken: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('user_id', '=', userId).where('id', '!=', sha256Hex(keepToken)).execute();
  }

  async deleteExpiredSessions(now = Date.now()): Promise<void> {
    await this.db.deleteFrom('sessions').where('expires_at', '<=', now).execute();
  }

  async principalForApiKey(key: string, now = Date.now()): Promise<ApiKeyLookup> {
    const hash = sha256Hex(key);
    const r = await this.db.selectFrom('api_keys').select(['tenant_id', 'scope', 'expires_at']).where('token_hash', '=', hash).executeTakeFirst();
    if (!r) return undefined;
    if (r.expires_at !== null && Number(r.expires_at) <= now) return { expiredAt: Number(r.expires_at) };
    await this.db.updateTable('api_keys').set({ last_used_at: now }).where('token_hash', '=', hash).execute();
    return { principal: { tenantId: r.tenant_id, userId: null, via: 'api-key', readOnly: storedScope(r.scope) === 'read-only' } };
  }
}
