/**
 * `GET /settings`, `PATCH /settings`: what the portal shows on its settings page and beside each
 * phone: the tenant's time zone, home country and whether its providers may call abroad, where
 * phones connect to (the SIP domain, proxy address and transports) and the limits in force.
 */
import { Router } from 'express';
import { z } from 'zod';
import { HOME_COUNTRY_CODES } from '../../contract/countries.ts';
import type { LimitsView, SettingsView, SipSettingsView, TlsView } from '../../contract/settings.ts';
import type { Config } from '../config.ts';
import { isCountryCode } from '../providers/internationalCalls.ts';
import { DEFAULT_KV_LIMITS } from '../store/kv.ts';
import type { Tenant } from '../store/tenantSettings.ts';
import type { TransportName } from '../sip/transport.ts';
import type { CertificateStore } from '../sip/tlsCertificates.ts';
import { SIP_WEBSOCKET_PATH } from '../sip/webSocketEndpoint.ts';
import { notFound, parse } from './errors.ts';
import { scopeOf } from './session.ts';

/** An IANA zone this runtime knows (the dialplan's `now()` and the portal format times in it). */
export const timeZone = z
  .string()
  .trim()
  .min(1, 'is required')
  .max(64)
  .refine((tz) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  }, 'must be an IANA time zone such as Europe/Berlin or UTC');

const HOME_COUNTRIES = new Set(HOME_COUNTRY_CODES);

/** A country provider legs' numbers are read in (a current ISO 3166 code with a numbering plan); null clears it. */
export const country = z
  .string()
  .trim()
  .toUpperCase()
  .refine((c) => HOME_COUNTRIES.has(c) && isCountryCode(c), 'must be a current ISO 3166 two-letter country code such as DE or US');

const patchBody = z.strictObject({
  timeZone: timeZone.optional(),
  country: country.nullable().optional(),
  internationalCalls: z.boolean().optional(),
});

/** The limits the switch enforces for every tenant, as the settings page lists them. */
function limitsOf(config: Config): LimitsView {
  return {
    callsAtOnce: config.calls.limits.perTenant,
    callsPerMinute: config.calls.limits.perMinute,
    strangerCallsAtOnce: config.calls.limits.strangersPerTenant,
    callMaxSeconds: config.calls.maxSeconds,
    registration: {
      minExpiresSeconds: config.sip.minExpires,
      maxExpiresSeconds: config.sip.maxExpires,
      contactsPerAccount: config.sip.maxContacts,
    },
    dialplan: {
      cpuMsPerSlice: config.dialplan.cpuMsPerSlice,
      secondsBeforeFirstDial: config.dialplan.firstDialMs / 1000,
      maxSeconds: config.dialplan.absoluteMs / 1000,
      heapMb: config.dialplan.heapMb,
      legsPerExecution: config.dialplan.legsPerExecution,
      concurrentExecutions: config.dialplan.tenantConcurrency,
    },
    cdrRetentionDays: config.cdr.retentionDays,
    store: { keys: DEFAULT_KV_LIMITS.maxKeys, valueBytes: DEFAULT_KV_LIMITS.maxValueBytes, totalBytes: DEFAULT_KV_LIMITS.maxTotalBytes },
    eventStreams: config.http.eventStreamsPerTenant,
    portal: { signupsPerHour: config.http.signupsPerHour, loginsPer15Min: config.http.loginsPer15Min, loginsPer15MinPerAddress: config.http.loginsPer15MinPerAddress },
  };
}

/** Where phones connect to. */
function sipOf(config: Config, sipPort: number): SipSettingsView {
  return {
    domain: config.sip.domain,
    domainAliases: config.sip.domainAliases,
    // Phones use the address this node advertises (its bind address unless set otherwise).
    proxy: { host: config.sip.advertised.host, port: config.sip.advertised.port ?? sipPort },
    transports: ['udp', 'tcp'],
    digestAlgorithms: config.sip.digestAlgorithms,
  };
}

/** The TLS part of `GET /settings` (contract/settings.ts, TlsView). */
export function tlsStatusOf(config: Config, ports: Partial<Record<TransportName, number>>, certificates: CertificateStore | undefined): TlsView {
  const status = certificates?.status();
  return {
    sipPort: ports.tls ?? null,
    host: config.sip.advertised.host,
    webSocket: { path: SIP_WEBSOCKET_PATH, wsPort: ports.ws ?? null, wssPort: ports.wss ?? null, extraOrigins: config.tls.webSocketOrigins },
    selfSigned: status?.selfSigned ?? false,
    certificates: status?.certificates.map((c) => ({ names: c.names, notAfter: c.notAfter, fingerprint256: c.fingerprint256 })) ?? [],
    lastReloadError: status?.lastError ?? null,
  };
}

function settingsView(tenant: Tenant, sip: SipSettingsView, limits: LimitsView, tls: TlsView | null): SettingsView {
  return {
    name: tenant.name,
    timeZone: tenant.timeZone,
    country: tenant.country,
    internationalCalls: tenant.internationalCalls,
    sip,
    limits,
    tls,
  };
}

export function settingsRoutes(config: Config, sipPort: number, tls?: () => TlsView): Router {
  const r = Router();
  const limits = limitsOf(config);
  const sip = sipOf(config, sipPort);
  const view = (tenant: Tenant) => settingsView(tenant, sip, limits, tls?.() ?? null);

  r.get('/', async (req, res) => {
    const tenant = await scopeOf(req).settings.get();
    if (!tenant) throw notFound('tenant');
    res.json(view(tenant));
  });

  r.patch('/', async (req, res) => {
    const body = parse(patchBody, req.body);
    const tenant = await scopeOf(req).settings.update(body);
    if (!tenant) throw notFound('tenant');
    res.json(view(tenant));
  });

  return r;
}
