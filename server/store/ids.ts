import { createHash, randomBytes } from 'node:crypto';
import { v7 } from 'uuid';

/** Time-ordered UUIDs (v7): ids sort by creation, which keeps indexes and keyset paging cheap. */
export const newId = (): string => v7();

export const sha256Hex = (s: string): string => createHash('sha256').update(s).digest('hex');

/** A bearer secret: `prefix_` + 32 random bytes, base64url. */
export const newSecret = (prefix: string): string => `${prefix}_${randomBytes(32).toString('base64url')}`;
