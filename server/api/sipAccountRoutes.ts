import { Router } from 'express';
import { KeyedQueue } from '../domain/keyedQueue.ts';
import { z } from 'zod';
import { DIGEST_ALGORITHMS, type Config } from '../config.ts';
import { computeHa1 } from '../sip/digest.ts';
import type { BrowserSessions } from '../sip/browserSessions.ts';
import type { BrowserSessionView } from '../../contract/sipAccounts.ts';
import { SIP_WEBSOCKET_PATH } from '../sip/webSocketEndpoint.ts';
import type { Store } from '../store/index.ts';
import { ExtensionTakenError, UsernameTakenError, type NewSipAccount, type SipAccount, type SipAccountChanges } from '../store/sipAccounts.ts';
import { HttpError, notFound, parse } from './errors.ts';
import { passwordWeakness } from './passwords.ts';
import { dialplanName } from './dialplanRoutes.ts';
import { scopeOf } from './session.ts';
import type { TenantScope } from '../store/index.ts';

/** A dialplan an account names must exist now (it may still be deleted later; then the default runs). */
async function checkDialplans(scope: TenantScope, refs: Array<['dialplanOut' | 'dialplanIn', string | null | undefined]>) {
  for (const [field, name] of refs) {
    if (name && !(await scope.dialplans.get(name))) throw new HttpError(400, `${field}: there is no dialplan named ${name}`, field);
  }
}

// Usernames are SIP URI user parts that need no escaping and no confusion with numbers we route.
const username = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z][a-z0-9._-]{1,31}$/, 'must be 2-32 characters: a letter, then letters, digits, ".", "_" or "-"');
const displayName = z.string().trim().max(100).nullable();
const algorithms = z
  .array(z.enum(DIGEST_ALGORITHMS))
  .min(1)
  .refine((l) => new Set(l).size === l.length, 'must not repeat an algorithm')
  .nullable();

const dialplanRef = dialplanName.nullable();
/** Digits only, so a number never reads as a username (those start with a letter); null = none. */
const extension = z
  .string()
  .trim()
  .regex(/^[1-9]\d{1,5}$/, 'must be 2-6 digits, not starting with 0 (0 is how numbers leave through providers)')
  .nullable();
/** Tries for the next free extension when another phone took the one just found. */
const EXTENSION_ATTEMPTS = 8;

const createBody = z.strictObject({
  username,
  password: z.string().max(200),
  displayName: displayName.optional(),
  digestAlgorithms: algorithms.optional(),
  dialplanOut: dialplanRef.optional(),
  dialplanIn: dialplanRef.optional(),
  /** Omitted: the next free number from 100 up; null: none. */
  extension: extension.optional(),
});
const patchBody = z.strictObject({
  password: z.string().max(200).optional(),
  displayName: displayName.optional(),
  digestAlgorithms: algorithms.optional(),
  enabled: z.boolean().optional(),
  dialplanOut: dialplanRef.optional(),
  dialplanIn: dialplanRef.optional(),
  extension: extension.optional(),
});
const idParam = z.strictObject({ id: z.string().max(64) });

/** How long a softphone password is good for: enough to register and re-register a few times; the page asks for another before it runs out. */
export const BROWSER_SESSION_TTL_MS = 10 * 60_000;
const browserSessionBody = z.strictObject({}).optional();

export function sipAccountRoutes(store: Store, config: Config, browserSessions?: BrowserSessions, browserSessionTtlMs = BROWSER_SESSION_TTL_MS): Router {
  const r = Router();
  const numbering = new KeyedQueue();
  const realm = config.sip.domain;

  const view = (a: SipAccount) => ({
    id: a.id,
    username: a.username,
    domain: realm,
    sipUri: `sip:${a.username}@${realm}`,
    displayName: a.displayName,
    enabled: a.enabled,
    digestAlgorithms: a.digestAlgorithms,
    dialplanOut: a.dialplanOut,
    dialplanIn: a.dialplanIn,
    extension: a.extension,
    effectiveDigestAlgorithms: a.digestAlgorithms ?? config.sip.digestAlgorithms,
    // HA1 digests are tied to the realm they were made for; after a domain change the password must be set again.
    needsNewPassword: a.realm !== realm,
    createdAt: new Date(a.createdAt).toISOString(),
    updatedAt: new Date(a.updatedAt).toISOString(),
  });

  const checkPassword = async (password: string, user: string) => {
    const weak = await passwordWeakness(password, [user, realm]);
    if (weak) throw new HttpError(400, `password: ${weak}`, 'password');
    return { realm, ha1Md5: computeHa1('MD5', user, realm, password), ha1Sha256: computeHa1('SHA-256', user, realm, password) };
  };

  r.get('/', async (req, res) => {
    res.json({ items: (await scopeOf(req).sipAccounts.list()).map(view) });
  });

  r.post('/', async (req, res) => {
    const body = parse(createBody, req.body);
    const digests = await checkPassword(body.password, body.username);
    const scope = scopeOf(req);
    await checkDialplans(scope, [
      ['dialplanOut', body.dialplanOut],
      ['dialplanIn', body.dialplanIn],
    ]);
    const account: NewSipAccount = {
      username: body.username,
      displayName: body.displayName ?? null,
      digestAlgorithms: body.digestAlgorithms ?? null,
      dialplanOut: body.dialplanOut ?? null,
      dialplanIn: body.dialplanIn ?? null,
      ...digests,
    };
    for (let attempt = 1; ; attempt++) {
      const numbered = body.extension === undefined;
      try {
        // A tenant's phones take their next free number in turn on this node (a burst of creations
        // would otherwise all read the same one); another node's is what the retry is for.
        const a = numbered
          ? await numbering.run(scope.tenantId, async () => scope.sipAccounts.create({ ...account, extension: await scope.sipAccounts.nextFreeExtension() }))
          : await scope.sipAccounts.create({ ...account, extension: body.extension });
        store.sipAccountLookup.invalidate(a.username);
        res.status(201).json(view(a));
        return;
      } catch (err) {
        if (err instanceof UsernameTakenError) throw new HttpError(409, 'username: is already taken on this switch', 'username');
        // Another phone created at the same moment took the free number: look again.
        if (err instanceof ExtensionTakenError && numbered && attempt < EXTENSION_ATTEMPTS) continue;
        if (err instanceof ExtensionTakenError) throw new HttpError(409, 'extension: another of your phones has this number', 'extension');
        throw err;
      }
    }
  });

  r.get('/:id', async (req, res) => {
    const { id } = parse(idParam, req.params);
    const a = await scopeOf(req).sipAccounts.get(id);
    if (!a) throw notFound('SIP account');
    res.json(view(a));
  });

  /**
   * What the portal's softphone (JsSIP) needs to be this account from the browser: the WebSocket on
   * the portal's own origin, the SIP URI and a short-lived random password (only its digests are
   * kept, browserSessions.ts), never the account's password.
   */
  r.post('/:id/browser-session', async (req, res) => {
    const { id } = parse(idParam, req.params);
    parse(browserSessionBody, req.body ?? undefined);
    const scope = scopeOf(req);
    const a = await scope.sipAccounts.get(id);
    if (!a) throw notFound('SIP account');
    if (!browserSessions) throw new HttpError(503, 'the softphone is not available on this node');
    if (!a.enabled) throw new HttpError(409, 'this SIP account is disabled: enable it to use it as a phone');
    const { password, expiresAt } = await browserSessions.issue({ tenantId: scope.tenantId, accountId: a.id, username: a.username }, browserSessionTtlMs);
    res.set('Cache-Control', 'no-store');
    const session: BrowserSessionView = {
      accountId: a.id,
      webSocketUrl: `${req.secure ? 'wss' : 'ws'}://${req.get('host')}${SIP_WEBSOCKET_PATH}`,
      sipUri: `sip:${a.username}@${realm}`,
      authorizationUser: a.username,
      displayName: a.displayName,
      extension: a.extension,
      password,
      expiresAt: new Date(expiresAt).toISOString(),
    };
    res.status(201).json(session);
  });

  r.patch('/:id', async (req, res) => {
    const { id } = parse(idParam, req.params);
    const body = parse(patchBody, req.body);
    const scope = scopeOf(req);
    const accounts = scope.sipAccounts;
    const current = await accounts.get(id);
    if (!current) throw notFound('SIP account');
    await checkDialplans(scope, [
      ['dialplanOut', body.dialplanOut],
      ['dialplanIn', body.dialplanIn],
    ]);
    const changes: SipAccountChanges = {};
    if (body.password !== undefined) Object.assign(changes, await checkPassword(body.password, current.username));
    if (body.displayName !== undefined) changes.displayName = body.displayName;
    if (body.digestAlgorithms !== undefined) changes.digestAlgorithms = body.digestAlgorithms;
    if (body.enabled !== undefined) changes.enabled = body.enabled;
    if (body.dialplanOut !== undefined) changes.dialplanOut = body.dialplanOut;
    if (body.dialplanIn !== undefined) changes.dialplanIn = body.dialplanIn;
    if (body.extension !== undefined) changes.extension = body.extension;
    const a = await accounts.update(id, changes).catch((err: unknown) => {
      if (err instanceof ExtensionTakenError) throw new HttpError(409, 'extension: another of your phones has this number', 'extension');
      throw err;
    });
    if (!a) throw notFound('SIP account');
    store.sipAccountLookup.invalidate(a.username);
    if (body.enabled === false || body.password !== undefined) await browserSessions?.revoke(a.username);
    res.json(view(a));
  });

  r.delete('/:id', async (req, res) => {
    const { id } = parse(idParam, req.params);
    const accounts = scopeOf(req).sipAccounts;
    const a = await accounts.get(id);
    if (!a || !(await accounts.delete(id))) throw notFound('SIP account');
    store.sipAccountLookup.invalidate(a.username);
    await browserSessions?.revoke(a.username);
    res.status(204).end();
  });

  return r;
}
