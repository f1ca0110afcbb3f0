import { z } from 'zod';

const validZones = new Map<string, boolean>();
/** True for IANA names this runtime (and so every isolate) can format in. */
export function isTimeZone(zone: string): boolean {
  let ok = validZones.get(zone);
  if (ok === undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: zone });
      ok = true;
    } catch {
      ok = false;
    }
    if (validZones.size < 1000) validZones.set(zone, ok);
  }
  return ok;
}

const text = (max: number) => z.string().max(max);

export const callFactsSchema = z.object({
  id: text(256).min(1),
  channelId: text(256).min(1),
  direction: z.enum(['in', 'out', 'local']),
  from: z.object({ user: text(256), host: text(256), display: text(256).optional(), uri: text(1024) }),
  to: z.object({ user: text(256), host: text(256), uri: text(1024) }),
  requestUri: text(1024),
  headers: z.record(text(128), text(2048)).refine((h) => Object.keys(h).length <= 64, 'at most 64 headers'),
  source: z.object({ address: text(64), port: z.number().int().min(0).max(65535), transport: text(16) }),
  account: text(128).optional(),
  provider: text(128).optional(),
  transfer: z.object({ transferer: text(256).min(1), transferee: text(256).min(1) }).optional(),
});

/** Checks what the server hands the runner; a failure is a bug in the caller, not in the script. */
export const executionRequestSchema = z.object({
  executionId: text(128).min(1),
  tenantId: text(128).min(1),
  dialplan: z.object({ name: text(128).min(1), version: z.number().int().nonnegative(), source: z.string() }),
  call: callFactsSchema,
  timeZone: z.string().refine(isTimeZone, 'not a known IANA time zone'),
});
