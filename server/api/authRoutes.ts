import { randomBytes } from 'node:crypto';
import { Router } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import type { Logger } from 'pino';
import { z } from 'zod';
import { STARTER_DIALPLAN } from '../../contract/starterDialplan.ts';
import { DEFAULT_DIALPLAN } from '../dialplan/selection.ts';
import { EmailTakenError } from '../store/accounts.ts';
import type { Store } from '../store/index.ts';
import type { IsOperator } from './banRoutes.ts';
import { HttpError, parse } from './errors.ts';
import { country } from './settingsRoutes.ts';
import { DUMMY_HASH, hashPassword, passwordWeakness, verifyPassword } from './passwords.ts';
import { requireAuth, scopeOf, SESSION_COOKIE, SESSION_TTL_MS, sessionCookieOptions } from './session.ts';

export interface AuthLimits {
  /** Sign-ups per IP per hour. */
  signupsPerHour: number;
  /** Login attempts per (IP, email) per 15 minutes. */
  loginsPer15Min: number;
  /** Login attempts per IP per 15 minutes, across emails: one password sprayed over many accounts. */
  loginsPer15MinPerAddress: number;
}

const credentials = z.strictObject({
  email: z.string().trim().toLowerCase().max(254).pipe(z.email('must be an email address')),
  password: z.string().min(1, 'is required').max(200),
});

/** Signing up may name the home country (the portal sends the browser's region). */
const signup = credentials.extend({ country: country.optional() });

function limiter(windowMs: number, limit: number, message: string, key: (req: import('express').Request) => string) {
  return rateLimit({
    windowMs,
    limit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    keyGenerator: key,
    handler: (_req, res, _next, options) => {
      const retryAfter = Math.ceil(options.windowMs / 1000);
      res.status(429).json({ error: `${message}; try again in ${Math.ceil(retryAfter / 60)} minutes` });
    },
  });
}

export function authRoutes(store: Store, limits: AuthLimits, log: Logger, isOperator: IsOperator): Router {
  const r = Router();
  const ip = (req: import('express').Request) => ipKeyGenerator(req.ip ?? '');

  const signupLimit = limiter(3600_000, limits.signupsPerHour, 'too many sign-ups from this address', ip);
  const addressLoginLimit = limiter(15 * 60_000, limits.loginsPer15MinPerAddress, 'too many login attempts from this address', ip);
  const loginLimit = limiter(15 * 60_000, limits.loginsPer15Min, 'too many login attempts', (req) => {
    const email = typeof req.body?.email === 'string' ? req.body.email.trim().toLowerCase() : '';
    return `${ip(req)}|${email}`;
  });

  async function startSession(res: import('express').Response, req: import('express').Request, user: { id: string; tenantId: string; email: string; passwordHash: string }) {
    const token = randomBytes(32).toString('base64url');
    await store.directory.createSession(user, token, SESSION_TTL_MS);
    res.cookie(SESSION_COOKIE, token, sessionCookieOptions(req));
  }

  r.post('/signup', signupLimit, async (req, res) => {
    const { email, password, country } = parse(signup, req.body);
    const weak = await passwordWeakness(password, [email, ...email.split(/[@.]/)]);
    if (weak) throw new HttpError(400, `password: ${weak}`, 'password');
    // E-mail addresses are not verified: a listed address nobody has signed up with must not be
    // anyone's to take (an existing one gets the usual answer below, which says nothing new).
    if (isOperator(email) && !(await store.directory.findUserByEmail(email))) {
      throw new HttpError(403, 'email: this address is listed in OPERATOR_EMAILS; an operator signs up before being listed', 'email');
    }
    let user;
    try {
      user = await store.directory.createTenantWithOwner(email, await hashPassword(password), {
        country: country ?? null,
        // Stored, not only shown in the editor: the tenant sees, versions and edits what its calls run.
        dialplan: { name: DEFAULT_DIALPLAN, source: STARTER_DIALPLAN },
      });
    } catch (err) {
      if (err instanceof EmailTakenError) throw new HttpError(409, 'email: this email is already registered; log in instead', 'email');
      throw err;
    }
    log.info({ tenantId: user.tenantId }, 'tenant signed up');
    await startSession(res, req, user);
    res.status(201).json({ user: { id: user.id, email: user.email }, tenantId: user.tenantId });
  });

  r.post('/login', addressLoginLimit, loginLimit, async (req, res) => {
    const { email, password } = parse(credentials, req.body);
    const user = await store.directory.findUserByEmail(email);
    const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH);
    // One message for unknown email and wrong password: the login form must not reveal accounts.
    if (!user || !ok) throw new HttpError(401, 'email or password is wrong');
    await startSession(res, req, user);
    res.json({ user: { id: user.id, email: user.email }, tenantId: user.tenantId });
  });

  r.post('/logout', async (req, res) => {
    const token = req.cookies?.[SESSION_COOKIE] as string | undefined;
    if (token) await store.directory.deleteSession(token);
    res.clearCookie(SESSION_COOKIE, { path: '/' });
    res.status(204).end();
  });

  return r;
}

export function meRoutes(store: Store, isOperator: IsOperator): Router {
  const r = Router();
  r.use(requireAuth(store));
  r.get('/', async (req, res) => {
    const scope = scopeOf(req);
    const tenant = await scope.settings.get();
    const user = req.principal!.userId ? await store.directory.findUser(req.principal!.userId) : undefined;
    res.json({
      tenant: tenant && { id: tenant.id, name: tenant.name, timeZone: tenant.timeZone },
      user: user ? { id: user.id, email: user.email } : null,
      via: req.principal!.via,
      operator: Boolean(user && isOperator(user.email)),
    });
  });
  return r;
}
