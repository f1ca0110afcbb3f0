import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { z, type ZodType } from 'zod';

/** An error with an HTTP status and a message meant for the client. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
    /** More machine-readable detail for the client (e.g. the line and column of a syntax error). */
    readonly extra?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export const notFound = (what: string) => new HttpError(404, `${what} not found`);

/** Parses a body or query with a zod schema; a failure is a 400 naming the first bad field. */
export function parse<T>(schema: ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = issue.path.join('.');
  throw new HttpError(400, field ? `${field}: ${issue.message}` : issue.message, field || undefined);
}

export const strictObject = z.strictObject;

export const errorHandler =
  (log: Logger): ErrorRequestHandler =>
  (err, req, res, _next) => {
    if (err instanceof HttpError) {
      res.status(err.status).json({ error: err.message, ...(err.field ? { field: err.field } : {}), ...err.extra });
      return;
    }
    const e = err as { type?: string; status?: number; message?: string };
    // body-parser: malformed JSON, too large, wrong charset.
    if (e.type === 'entity.parse.failed') return void res.status(400).json({ error: 'body is not valid JSON' });
    if (e.type === 'entity.too.large') return void res.status(413).json({ error: 'body too large' });
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      return void res.status(e.status).json({ error: e.message ?? 'bad request' });
    }
    log.error({ err, method: req.method, path: req.path }, 'API request failed');
    res.status(500).json({ error: 'internal error' });
  };

export const unknownRoute: RequestHandler = (_req, res) => {
  res.status(404).json({ error: 'no such route' });
};
