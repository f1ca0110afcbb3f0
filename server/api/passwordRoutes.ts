/**
 * `POST /me/password {currentPassword, newPassword}`: a logged-in user changes their portal password.
 * The current password is asked again (a session left open on a shared computer must not be enough
 * to take the account over), and every other session of the user is ended.
 */
import { Router, type Request } from 'express';
import { rateLimit } from 'express-rate-limit';
import { z } from 'zod';
import type { Store } from '../store/index.ts';
import { HttpError, parse } from './errors.ts';
import { hashPassword, passwordWeakness, verifyPassword } from './passwords.ts';
import { requireAuth, SESSION_COOKIE } from './session.ts';

const body = z.strictObject({
  currentPassword: z.string().min(1, 'is required').max(200),
  newPassword: z.string().max(200),
});

const ATTEMPTS_PER_15MIN = 10;

export function passwordRoutes(store: Store): Router {
  const r = Router();
  r.use(requireAuth(store));
  r.use(
    rateLimit({
      windowMs: 15 * 60_000,
      limit: ATTEMPTS_PER_15MIN,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      keyGenerator: (req: Request) => req.principal?.userId ?? req.principal?.tenantId ?? '',
      handler: (_req, res) => void res.status(429).json({ error: 'too many password changes; try again in 15 minutes' }),
    }),
  );

  r.post('/', async (req, res) => {
    const userId = req.principal?.userId;
    const token = req.cookies?.[SESSION_COOKIE] as string | undefined;
    if (!userId || !token) throw new HttpError(403, 'log in to the portal to change your password; an API key cannot');
    const { currentPassword, newPassword } = parse(body, req.body);
    const user = await store.directory.findUser(userId);
    if (!user) throw new HttpError(401, 'not logged in');
    if (!(await verifyPassword(currentPassword, user.passwordHash))) {
      throw new HttpError(400, 'currentPassword: is not your current password', 'currentPassword');
    }
    const weak = await passwordWeakness(newPassword, [user.email, ...user.email.split(/[@.]/)]);
    if (weak) throw new HttpError(400, `newPassword: ${weak}`, 'newPassword');
    if (newPassword === currentPassword) throw new HttpError(400, 'newPassword: must differ from the current password', 'newPassword');
    await store.directory.setPassword(userId, await hashPassword(newPassword));
    await store.directory.deleteOtherSessions(userId, token);
    res.status(204).end();
  });
  return r;
}
