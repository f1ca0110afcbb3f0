/**
 * /api/v1/providers: a tenant's SIP trunks. Passwords are write-only: accepted on create and
 * update, sealed in the store, never returned (only `hasPassword`). Every change reaches the
 * registration agent at once, so it takes effect without a restart.
 */
import { isIP } from 'node:net';
import { Router } from 'express';
import { z } from 'zod';
import type { Provider, ProviderStatus, ProviderChanges, NewProvider } from '../store/providers.ts';
import { NoCredentialKeyError, ProviderNameTakenError, ProviderNumberTakenError } from '../store/providers.ts';
import type { TenantScope } from '../store/index.ts';
import { templateProblems } from '../providers/templates.ts';
import { isHost, parseHostPort } from '../sip/hostPort.ts';
import type { ProviderTestView } from '../../contract/providerTest.ts';
import type { ProviderHealth } from '../providers/health.ts';
import type { ProviderControl } from '../providers/service.ts';
import { dialplanName } from './dialplanRoutes.ts';
import { HttpError, notFound, parse } from './errors.ts';
import { scopeOf } from './session.ts';

const host = z
  .string()
  .trim()
  .refine(isHost, 'must be a host name or an IP address (put the port in "port")')
  .transform((h) => h.replace(/^\[|\]$/g, ''));
const hostPort = z
  .string()
  .trim()
  .refine((v) => {
    return parseHostPort(v) !== undefined;
  }, 'must be host or host:port');
// URI user parts that need no escaping.
const uriUser = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9+._~-]{1,64}$/, 'must be 1-64 letters, digits or + . _ ~ -');
const template = (max: number) =>
  z
    .string()
    .max(max)
    .superRefine((t, ctx) => {
      for (const p of templateProblems(t)) ctx.addIssue({ code: 'custom', message: p });
    });
// Headers the switch writes itself; a template must not replace them.
const RESERVED_HEADERS = new Set([
  'via',
  'from',
  'to',
  'call-id',
  'cseq',
  'contact',
  'max-forwards',
  'content-length',
  'content-type',
  'authorization',
  'proxy-authorization',
  'route',
  'record-route',
  'allow',
  'expires',
]);
// Names are checked here rather than by a key schema: zod reports a bad record key only as
// "Invalid key in record", without saying what is wrong with it.
const headers = z.record(z.string(), template(512)).superRefine((h, ctx) => {
  const names = Object.keys(h);
  if (names.length > 20) ctx.addIssue({ code: 'custom', message: 'at most 20 headers' });
  for (const name of names) {
    if (!/^[A-Za-z][A-Za-z0-9-]{0,63}$/.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'header names are letters, digits and "-"' });
    else if (RESERVED_HEADERS.has(name.toLowerCase())) ctx.addIssue({ code: 'custom', path: [name], message: `${name} is set by the switch and cannot be templated` });
  }
});
/** Shorter prefixes cover so many addresses that the claim no longer says who the provider is. */
const SHORTEST_PREFIX = { 4: 16, 6: 48 } as const;
const sourceAddress = z
  .string()
  .trim()
  .superRefine((s, ctx) => {
    const [addr, bits, extra] = s.split('/');
    const family = isIP(addr ?? '') as 0 | 4 | 6;
    if (!family || extra !== undefined || (bits !== undefined && !(/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128)))) {
      ctx.addIssue({ code: 'custom', message: 'must be an IP address or a CIDR block like 203.0.113.0/24' });
      return;
    }
    if (bits !== undefined && Number(bits) < SHORTEST_PREFIX[family]) {
      ctx.addIssue({
        code: 'custom',
        message: `${s} is too broad: list the addresses your provider sends calls from (at most a /${SHORTEST_PREFIX[family]} per entry for IPv${family})`,
      });
    }
  });
/** A number (DID) as a tenant writes it, kept as digits: `+49 (30) 555-123` → `4930555123`. */
const didNumber = z
  .string()
  .transform((n) => n.replace(/[\s().-]/g, '').replace(/^\+/, ''))
  .pipe(z.string().regex(/^\d{6,16}$/, 'must be a phone number of 6 to 16 digits (E.164, with or without +)'));

const fields = {
  // Kept in lower case, as dial("number@name") finds it whatever the case: MySQL compares names
  // without case and SQLite with it, so "Acme" and "acme" would be one provider on one and two on the other.
  name: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 letters, digits, ".", "_" or "-" (it is what dial("number@name") uses)')
    .toLowerCase(),
  host,
  port: z.number().int().min(1).max(65535).nullable(),
  transport: z.enum(['udp', 'tcp']),
  outboundProxy: hostPort.nullable(),
  username: uriUser.nullable(),
  authUsername: z
    .string()
    .regex(/^[^"\\\r\n]{1,128}$/, 'must be 1-128 characters without quotes, backslashes or line breaks')
    .nullable(),
  password: z.string().min(1).max(200).nullable(),
  realm: z
    .string()
    .max(255)
    .regex(/^[^"\\\r\n]*$/, 'must not contain quotes, backslashes or line breaks')
    .nullable(),
  fromUser: template(128).nullable(),
  fromHost: template(255).nullable(),
  fromDisplay: template(128).nullable(),
  headers,
  register: z.boolean(),
  registerExpires: z.number().int().min(60).max(86400),
  contactUser: uriUser.nullable(),
  dialplan: dialplanName.nullable(),
  sourceAddresses: z.array(sourceAddress).max(20),
  numbers: z
    .array(didNumber)
    .max(100)
    .transform((list) => [...new Set(list)]),
  enabled: z.boolean(),
};

const createBody = z.strictObject({
  name: fields.name,
  host: fields.host,
  port: fields.port.default(null),
  transport: fields.transport.default('udp'),
  outboundProxy: fields.outboundProxy.default(null),
  username: fields.username.default(null),
  authUsername: fields.authUsername.default(null),
  password: fields.password.optional(),
  realm: fields.realm.default(null),
  fromUser: fields.fromUser.default(null),
  fromHost: fields.fromHost.default(null),
  fromDisplay: fields.fromDisplay.default(null),
  headers: fields.headers.default({}),
  register: fields.register.default(false),
  registerExpires: fields.registerExpires.default(3600),
  contactUser: fields.contactUser.default(null),
  dialplan: fields.dialplan.default(null),
  sourceAddresses: fields.sourceAddresses.default([]),
  numbers: fields.numbers.default([]),
  enabled: fields.enabled.default(true),
});
const patchBody = z.strictObject(
  Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v.optional()])) as {
    [K in keyof typeof fields]: z.ZodOptional<(typeof fields)[K]>;
  },
);
const idParam = z.strictObject({ id: z.string().max(64) });

async function checkDialplan(scope: TenantScope, name: string | null | undefined): Promise<void> {
  if (name && !(await scope.dialplans.get(name))) throw new HttpError(400, `dialplan: there is no dialplan named ${name}`, 'dialplan');
}

function checkRegistration(p: { register?: boolean; username?: string | null; contactUser?: string | null }): void {
  if (p.register && !p.username) throw new HttpError(400, 'username: a provider that registers needs a username', 'username');
}

const iso = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString() : null);

/** Null until the first OPTIONS ping of this run has an outcome. */
const healthView = (h: ProviderHealth | undefined) => (h ? { reachable: h.reachable, rttMs: h.rttMs, detail: h.detail, checkedAt: iso(h.checkedAt) } : null);

/** `maxPerTenant`: providers a tenant may have (each one is registrations and DNS work for the switch). */
export function providerRoutes(control: ProviderControl, maxPerTenant: number): Router {
  const r = Router();

  const view = (p: Provider, stored?: ProviderStatus) => {
    const s = control.status(p.id) ?? stored;
    return {
      id: p.id,
      name: p.name,
      host: p.host,
      port: p.port,
      transport: p.transport,
      outboundProxy: p.outboundProxy,
      username: p.username,
      authUsername: p.authUsername,
      realm: p.realm,
      fromUser: p.fromUser,
      fromHost: p.fromHost,
      fromDisplay: p.fromDisplay,
      headers: p.headers,
      register: p.register,
      registerExpires: p.registerExpires,
      contactUser: p.contactUser,
      contactUri: control.contactUri(p),
      dialplan: p.dialplan,
      sourceAddresses: p.sourceAddresses,
      numbers: p.numbers,
      enabled: p.enabled,
      hasPassword: p.hasPassword,
      status: {
        state: s?.state ?? (p.enabled ? (p.register ? 'registering' : 'idle') : 'disabled'),
        lastStatus: s?.lastStatus ?? null,
        lastReason: s?.lastReason ?? null,
        lastError: s?.lastError ?? null,
        nextAttemptAt: iso(s?.nextAttemptAt),
        registeredUntil: iso(s?.registeredUntil),
        rttMs: s?.rttMs ?? null,
      },
      health: healthView(control.health(p.id)),
      createdAt: iso(p.createdAt),
      updatedAt: iso(p.updatedAt),
    };
  };

  const storing = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (err) {
      if (err instanceof ProviderNameTakenError) throw new HttpError(409, `name: ${err.message}`, 'name');
      if (err instanceof ProviderNumberTakenError) throw new HttpError(409, `numbers: ${err.message}`, 'numbers');
      if (err instanceof NoCredentialKeyError) throw new HttpError(503, err.message);
      throw err;
    }
  };

  r.get('/', async (req, res) => {
    const scope = scopeOf(req);
    const [list, statuses] = await Promise.all([scope.providers.list(), scope.providers.statuses()]);
    res.json({ items: list.map((p) => view(p, statuses.get(p.id))) });
  });

  r.post('/', async (req, res) => {
    const body = parse(createBody, req.body);
    const scope = scopeOf(req);
    await checkDialplan(scope, body.dialplan);
    checkRegistration(body);
    if ((await scope.providers.list()).length >= maxPerTenant) throw new HttpError(409, `a tenant may have at most ${maxPerTenant} providers; delete one first`);
    const p = await storing(() => scope.providers.create(body as NewProvider));
    await control.changed(p.id);
    res.status(201).json(view(p));
  });

  r.get('/:id', async (req, res) => {
    const { id } = parse(idParam, req.params);
    const scope = scopeOf(req);
    const p = await scope.providers.get(id);
    if (!p) throw notFound('provider');
    res.json(view(p, (await scope.providers.statuses()).get(id)));
  });

  /**
   * "Test now": an OPTIONS to the provider at once, and a REGISTER when it registers; the outcome
   * of each and its exchange, as a call's story shows messages.
   */
  r.post('/:id/test', async (req, res) => {
    const { id } = parse(idParam, req.params);
    const p = await scopeOf(req).providers.get(id);
    if (!p) throw notFound('provider');
    const { health, messages, register } = await control.testNow(p);
    const view: ProviderTestView = { health: healthView(health)!, messages, register };
    res.json(view);
  });

  r.patch('/:id', async (req, res) => {
    const { id } = parse(idParam, req.params);
    const body = parse(patchBody, req.body) as ProviderChanges;
    const scope = scopeOf(req);
    const current = await scope.providers.get(id);
    if (!current) throw notFound('provider');
    await checkDialplan(scope, body.dialplan);
    checkRegistration({ ...current, ...body });
    const p = await storing(() => scope.providers.update(id, body));
    if (!p) throw notFound('provider');
    await control.changed(p.id);
    res.json(view(p));
  });

  r.delete('/:id', async (req, res) => {
    const { id } = parse(idParam, req.params);
    if (!(await scopeOf(req).providers.delete(id))) throw notFound('provider');
    await control.changed(id);
    res.status(204).end();
  });

  return r;
}
