/**
 * The portal's only way to the switch: JSON over fetch to /api/v1 with the session cookie.
 * Writes always carry a JSON content type from our own origin, which is what the server's CSRF
 * check asks of cookie-authenticated requests. Errors become ApiError with the server's message and
 * the field it names (`{error, field?}`), so forms can show them where they belong.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** The request field the server blamed (`password`, `call.from.user`, …). */
    readonly field?: string,
    /** The whole error body, for extra detail such as a syntax error's line and column. */
    readonly body: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

type UnauthorizedListener = () => void;
const unauthorizedListeners = new Set<UnauthorizedListener>();

/** Called when the session has ended (an API call answered 401), so the app can show the login page. */
export function onUnauthorized(fn: UnauthorizedListener): () => void {
  unauthorizedListeners.add(fn);
  return () => unauthorizedListeners.delete(fn);
}

export const API_BASE = '/api/v1';

/** A file sent as it is (an upload), with its own content type, instead of JSON. */
class RawBody {
  constructor(
    readonly data: Blob,
    readonly type: string,
  ) {}
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const hasBody = body !== undefined || method === 'POST';
  const raw = body instanceof RawBody ? body : undefined;
  let res: Response;
  try {
    res = await fetch(API_BASE + path, {
      method,
      credentials: 'same-origin',
      headers: { accept: 'application/json', ...(raw ? { 'content-type': raw.type } : hasBody ? { 'content-type': 'application/json' } : {}) },
      body: raw ? raw.data : hasBody ? JSON.stringify(body ?? {}) : undefined,
    });
  } catch {
    throw new ApiError(0, 'The switch could not be reached. Check your connection and try again.');
  }
  const text = await res.text();
  let data: unknown;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (!res.ok) {
    const err = (data ?? {}) as { error?: unknown; field?: unknown };
    const message = typeof err.error === 'string' ? err.error : `The switch answered ${res.status} ${res.statusText}`;
    if (res.status === 401 && !path.startsWith('/auth/')) for (const fn of unauthorizedListeners) fn();
    throw new ApiError(res.status, message, typeof err.field === 'string' ? err.field : undefined, (data ?? {}) as Record<string, unknown>);
  }
  return data as T;
}

export const api = {
  get: <T>(path: string) => request<T>('GET', path),
  post: <T>(path: string, body?: unknown) => request<T>('POST', path, body),
  put: <T>(path: string, body: unknown) => request<T>('PUT', path, body),
  patch: <T>(path: string, body: unknown) => request<T>('PATCH', path, body),
  delete: <T = void>(path: string) => request<T>('DELETE', path),
  /** PUT of a file as the request body (the server's CSRF check asks JSON of POSTs only). */
  putFile: <T>(path: string, file: Blob, type = file.type || 'application/octet-stream') => request<T>('PUT', path, new RawBody(file, type)),
};

/** A query string from the defined, non-empty values. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** What to tell the user about a failure, in a sentence. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    const m = err.message.charAt(0).toUpperCase() + err.message.slice(1);
    if (err.status === 429) return `${m}.`;
    if (err.status >= 500) return `The switch failed to do this (${err.status}): ${err.message}. Try again; if it keeps failing, tell the operator.`;
    return /[.!?]$/.test(m) ? m : `${m}.`;
  }
  return err instanceof Error ? err.message : String(err);
}
