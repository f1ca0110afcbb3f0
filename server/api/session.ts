/**
 * Who is calling the API: a session cookie (the portal) or a bearer API key (scripts and tools).
 * Cookie-authenticated writes must come from our own origin as JSON, which a cross-site form cannot
 * send: together with SameSite cookies that is the CSRF defence.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Principal } from '../store/accounts.ts';
import type { Store, TenantScope } from '../store/index.ts';
import { HttpError } from './errors.ts';

export const SESSION_COOKIE = 'sid';
export const SESSION_TTL_MS = 7 * 24 * 3600 * 1000;

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
    scope?: TenantScope;
  }
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** What a read-only API key may do. */
const SAFE = new Set(['GET', 'HEAD']);

function checkSameOrigin(req: Request): void {
  if (!UNSAFE.has(req.method)) return;
  const origin = req.get('origin');
  if (origin) {
    let host: string;
    try {
      host = new URL(origin).host;
    } catch {
      throw new HttpError(403, 'cross-origin request refused');
    }
    if (host !== req.get('host')) throw new HttpError(403, 'cross-origin request refused');
  }
  if (req.method === 'POST' && !req.is('application/json')) {
    throw new HttpError(415, 'requests must be sent as application/json');
  }
}

export function sessionCookieOptions(req: Request) {
  return { httpOnly: true, sameSite: 'lax' as const, secure: req.secure, path: '/', maxAge: SESSION_TTL_MS };
}

/** Resolves the caller; answers 401 when there is none. */
export function requireAuth(store: Store): RequestHandler {
  return async (req: Request, _res: Response, next: NextFunction) => {
    const bearer = req.get('authorization');
    let principal: Principal | undefined;
    if (bearer) {
      const m = /^Bearer\s+(\S{1,200})$/i.exec(bearer);
      const found = m ? await store.directory.principalForApiKey(m[1]!) : undefined;
      if (found && 'expiredAt' in found) throw new HttpError(401, `this API key expired at ${new Date(found.expiredAt).toISOString()}; create a new one`);
      if (!found) throw new HttpError(401, 'invalid API key');
      principal = found.principal;
      if (principal.readOnly && !SAFE.has(req.method)) throw new HttpError(403, `this API key is read-only: it may only read (GET), not ${req.method}`);
    } else {
      const token = req.cookies?.[SESSION_COOKIE] as string | undefined;
      if (token && token.length <= 200) principal = await store.directory.principalForSession(token);
      if (!principal) throw new HttpError(401, 'not logged in');
      checkSameOrigin(req);
    }
    req.principal = principal;
    req.scope = store.tenant(principal.tenantId);
    next();
  };
}

export function scopeOf(req: Request): TenantScope {
  if (!req.scope) throw new HttpError(401, 'not logged in');
  return req.scope;
}
