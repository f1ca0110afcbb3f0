/**
 * A tenant's prompts: audio its dialplans play by name, kept converted (8 kHz mono 16-bit WAV,
 * server/media/prompts.ts) so a call never waits for a conversion. At most `MAX_PROMPTS` each.
 */
import type { Kysely } from 'kysely';
import { isUniqueViolation } from './errors.ts';
import { newId } from './ids.ts';
import type { Database } from './schema.ts';

export const MAX_PROMPTS = 200;

export interface PromptsTable {
  id: string;
  tenant_id: string;
  name: string;
  audio: Buffer;
  duration_ms: number;
  bytes: number;
  created_at: number;
  updated_at: number;
}

export interface PromptInfo {
  name: string;
  durationMs: number;
  bytes: number;
  createdAt: number;
  updatedAt: number;
}

/** A prompt the tenant may not add (it has as many as it may); the message is for the tenant. */
export class PromptQuotaError extends Error {}

type Db = Kysely<Database & { prompts: PromptsTable }>;

const INFO = ['name', 'duration_ms', 'bytes', 'created_at', 'updated_at'] as const;
const toInfo = (r: Pick<PromptsTable, (typeof INFO)[number]>): PromptInfo => ({
  name: r.name,
  durationMs: r.duration_ms,
  bytes: Number(r.bytes),
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

export class TenantPrompts {
  private readonly db: Db;

  constructor(
    db: Kysely<Database>,
    private readonly tenantId: string,
  ) {
    this.db = db.withTables<{ prompts: PromptsTable }>();
  }

  async list(): Promise<PromptInfo[]> {
    const rows = await this.db.selectFrom('prompts').select(INFO).where('tenant_id', '=', this.tenantId).orderBy('name').execute();
    return rows.map(toInfo);
  }

  async info(name: string): Promise<PromptInfo | undefined> {
    const r = await this.db.selectFrom('prompts').select(INFO).where('tenant_id', '=', this.tenantId).where('name', '=', name).executeTakeFirst();
    return r && toInfo(r);
  }

  /** The converted WAV, or undefined. */
  async audio(name: string): Promise<Buffer | undefined> {
    const r = await this.db.selectFrom('prompts').select('audio').where('tenant_id', '=', this.tenantId).where('name', '=', name).executeTakeFirst();
    return r ? Buffer.from(r.audio) : undefined;
  }

  /** Adds the prompt or replaces its audio; `created` says which. Throws PromptQuotaError past the limit. */
  async put(name: string, audio: { wav: Buffer; durationMs: number }, now = Date.now()): Promise<{ created: boolean; prompt: PromptInfo }> {
    const values = { audio: audio.wav, duration_ms: audio.durationMs, bytes: audio.wav.length, updated_at: now };
    const replaced = await this.db.updateTable('prompts').set(values).where('tenant_id', '=', this.tenantId).where('name', '=', name).executeTakeFirst();
    if (Number(replaced.numUpdatedRows) > 0) return { created: false, prompt: (await this.info(name))! };
    const { n } = await this.db
      .selectFrom('prompts')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('tenant_id', '=', this.tenantId)
      .executeTakeFirstOrThrow();
    if (Number(n) >= MAX_PROMPTS) throw new PromptQuotaError(`the tenant has ${MAX_PROMPTS} prompts, the most it may have; delete some first`);
    try {
      await this.db
        .insertInto('prompts')
        .values({ id: newId(), tenant_id: this.tenantId, name, created_at: now, ...values })
        .execute();
    } catch (err) {
      // Another upload of the same name won the race: this one replaces it.
      if (!isUniqueViolation(err)) throw err;
      return this.put(name, audio, now);
    }
    return { created: true, prompt: (await this.info(name))! };
  }

  async delete(name: string): Promise<boolean> {
    const r = await this.db.deleteFrom('prompts').where('tenant_id', '=', this.tenantId).where('name', '=', name).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
