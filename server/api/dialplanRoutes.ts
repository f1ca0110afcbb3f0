import { Router } from 'express';
import { z } from 'zod';
import { simulate } from '../dialplan/simulate.ts';
import type { DialplanRunner, JsonValue, Registration } from '../dialplan/types.ts';
import type { TenantScope } from '../store/index.ts';
import { HttpError, notFound, parse } from './errors.ts';
import { scopeOf } from './session.ts';
import { internationalRefusal } from '../providers/internationalCalls.ts';

export const dialplanName = z
  .string()
  .trim()
  .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'must be 1-64 characters: lower-case letters, digits, "_" or "-"');

const MAX_SOURCE_BYTES = 64 * 1024;
const source = z.string().refine((s) => Buffer.byteLength(s) <= MAX_SOURCE_BYTES, `must be at most ${MAX_SOURCE_BYTES / 1024} KiB`);

const createBody = z.strictObject({ name: dialplanName, source });
const compileBody = z.strictObject({ source });
const putBody = z.strictObject({ source });
const restoreBody = z.strictObject({ version: z.number().int().positive() });
const nameParam = z.strictObject({ name: dialplanName });
const versionParam = z.strictObject({ name: dialplanName, version: z.coerce.number().int().positive() });

const party = z.strictObject({
  user: z.string().max(128),
  host: z.string().max(255).optional(),
  display: z.string().max(128).optional(),
});
const outcome = z.union([
  z.enum(['answered', 'busy', 'no-answer', 'unavailable', 'cancelled']),
  z.string().regex(/^rejected:[3-6]\d\d$/, 'must be answered, busy, no-answer, unavailable, cancelled or rejected:<code>'),
]);
const simulateBody = z.strictObject({
  call: z
    .strictObject({
      direction: z.enum(['in', 'out', 'local']).optional(),
      from: party.optional(),
      to: party.optional(),
      account: z.string().max(64).optional(),
      provider: z.string().max(64).optional(),
      headers: z.record(z.string().max(64), z.string().max(1024)).optional(),
    })
    .optional(),
  /** What each dialled target does, keyed by its dial-string form (`alice`, `0123@mytrunk`). */
  outcomes: z.record(z.string().max(256), outcome).optional(),
  /** Test an unsaved draft instead of the saved version. */
  source: source.optional(),
  /** The DTMF digits the caller presses, in order, for `collect()`. */
  digits: z
    .string()
    .regex(/^[0-9*#A-D]{0,64}$/, 'digits are 0-9, *, # and A-D, at most 64')
    .optional(),
});

/**
 * Compiles in a sandbox worker; a source that cannot run (a syntax error, empty, no default
 * export) is a 400 that says where. Every path that makes a version current goes through this,
 * so a tenant's current dialplan is always one that compiled.
 */
async function checkCompiles(runner: DialplanRunner, src: string, what = 'source'): Promise<void> {
  const r = await runner.compile(src);
  if (!r.ok) {
    throw new HttpError(400, `${what}: line ${r.line}, column ${r.column}: ${r.message}`, 'source', {
      line: r.line,
      column: r.column,
      compileError: r.message,
    });
  }
}

/** A tenant whose scripts brought down dialplan workers is suspended for a while; it is told so, and why. */
function quarantineOf(runner: DialplanRunner, tenantId: string) {
  const held = runner.quarantined(tenantId);
  return held ? { until: held.until.toISOString(), reason: held.reason } : null;
}

/** A read-only snapshot of what the simulated script may read: the tenant's store and bindings. */
async function simulationContext(scope: TenantScope) {
  const store = new Map<string, JsonValue>();
  for (const key of await scope.kv.keys('', 1000)) {
    const v = await scope.kv.get(key);
    if (v !== undefined) store.set(key, v);
  }
  const registrations: Record<string, Registration[]> = {};
  for (const b of await scope.registrations.list(Date.now())) {
    (registrations[b.username] ??= []).push({
      contact: b.contactUri,
      userAgent: b.userAgent ?? undefined,
      expiresAt: new Date(b.expiresAt).toISOString(),
    });
  }
  return { store, registrations };
}

export function dialplanRoutes(runner: DialplanRunner): Router {
  const r = Router();

  r.get('/', async (req, res) => {
    const scope = scopeOf(req);
    const items = await scope.dialplans.list();
    res.json({
      items: items.map((d) => ({ name: d.name, version: d.version, updatedAt: new Date(d.updatedAt).toISOString() })),
      quarantine: quarantineOf(runner, scope.tenantId),
    });
  });

  /** The editor's check as the tenant types: what saving would say, without saving. */
  r.post('/compile', async (req, res) => {
    const body = parse(compileBody, req.body);
    res.json(await runner.compile(body.source));
  });

  r.post('/', async (req, res) => {
    const body = parse(createBody, req.body);
    await checkCompiles(runner, body.source);
    const dialplans = scopeOf(req).dialplans;
    if (await dialplans.get(body.name)) throw new HttpError(409, `name: a dialplan named ${body.name} exists; PUT a new version`, 'name');
    const version = await dialplans.save(body.name, body.source);
    res.status(201).json({ name: body.name, version });
  });

  r.get('/:name', async (req, res) => {
    const { name } = parse(nameParam, req.params);
    const scope = scopeOf(req);
    const d = await scope.dialplans.get(name);
    if (!d) throw notFound('dialplan');
    res.json({
      quarantine: quarantineOf(runner, scope.tenantId),
      name: d.name,
      version: d.version,
      source: d.source,
      updatedAt: new Date(d.updatedAt).toISOString(),
      versions: d.versions.map((v) => ({ version: v.version, createdAt: new Date(v.createdAt).toISOString() })),
    });
  });

  r.get('/:name/versions/:version', async (req, res) => {
    const { name, version } = parse(versionParam, req.params);
    const v = await scopeOf(req).dialplans.version(name, version);
    if (!v) throw notFound('dialplan version');
    res.json({ name, version: v.version, source: v.source, createdAt: new Date(v.createdAt).toISOString() });
  });

  r.put('/:name', async (req, res) => {
    const { name } = parse(nameParam, req.params);
    const body = parse(putBody, req.body);
    await checkCompiles(runner, body.source);
    const dialplans = scopeOf(req).dialplans;
    const existed = Boolean(await dialplans.get(name));
    const version = await dialplans.save(name, body.source);
    res.status(existed ? 200 : 201).json({ name, version });
  });

  /** Makes an old version current again, as a new version (history is never rewritten). */
  r.post('/:name/restore', async (req, res) => {
    const { name } = parse(nameParam, req.params);
    const { version } = parse(restoreBody, req.body);
    const dialplans = scopeOf(req).dialplans;
    const old = await dialplans.version(name, version);
    if (!old) throw notFound('dialplan version');
    // Versions saved before today's checks (or under an older engine) may not compile.
    await checkCompiles(runner, old.source, `version ${version} cannot be made current`);
    res.json({ name, version: await dialplans.save(name, old.source), restoredFrom: version });
  });

  r.delete('/:name', async (req, res) => {
    const { name } = parse(nameParam, req.params);
    const scope = scopeOf(req);
    const users = (await scope.sipAccounts.list()).filter((a) => a.dialplanOut === name || a.dialplanIn === name);
    if (users.length) {
      throw new HttpError(409, `name: dialplan ${name} is used by ${users.map((a) => a.username).join(', ')}; change those accounts first`, 'name');
    }
    if (!(await scope.dialplans.delete(name))) throw notFound('dialplan');
    res.status(204).end();
  });

  r.post('/:name/simulate', async (req, res) => {
    const { name } = parse(nameParam, req.params);
    const body = parse(simulateBody, req.body);
    const scope = scopeOf(req);
    let src = body.source;
    if (src === undefined) {
      const current = await scope.dialplans.current(name);
      if (!current) throw notFound('dialplan');
      src = current.source;
    } else {
      await checkCompiles(runner, src);
    }
    const tenant = await scope.settings.get();
    const { store, registrations } = await simulationContext(scope);
    const c = body.call ?? {};
    const callFacts = {
      ...(c.direction ? { direction: c.direction } : {}),
      ...(c.from
        ? { from: { user: c.from.user, host: c.from.host ?? 'caller.invalid', display: c.from.display, uri: `sip:${c.from.user}@${c.from.host ?? 'caller.invalid'}` } }
        : {}),
      ...(c.to ? { to: { user: c.to.user, host: c.to.host ?? 'switch.invalid', uri: `sip:${c.to.user}@${c.to.host ?? 'switch.invalid'}` } } : {}),
      ...(c.to ? { requestUri: `sip:${c.to.user}@${c.to.host ?? 'switch.invalid'}` } : {}),
      ...(c.account ? { account: c.account } : {}),
      ...(c.provider ? { provider: c.provider } : {}),
      ...(c.headers ? { headers: c.headers } : {}),
    };
    const result = await simulate(runner, {
      tenantId: scope.tenantId,
      source: src,
      call: callFacts,
      outcomes: body.outcomes as Record<string, never> | undefined,
      store,
      registrations,
      timeZone: tenant?.timeZone ?? 'UTC',
      refusal: (leg) => (leg.kind === 'provider' ? internationalRefusal(leg, tenant) : undefined),
      digits: body.digits ?? '',
      prompts: (await scope.prompts.list()).map((p) => p.name),
    });
    res.json(result);
  });

  return r;
}
