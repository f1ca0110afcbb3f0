import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import type { CallLimits } from './calls/callBudgets.ts';
import type { ConfiguredDialplanLimit, DialplanLimits } from './dialplan/options.ts';
import { DEFAULT_DENIED_DESTINATIONS, parseDeniedRanges } from './sip/destinationPolicy.ts';
import { parseHostPort } from './sip/hostPort.ts';
import type { TransportOptions } from './sip/transport.ts';
import { MEDIA_ENGINES, type MediaSettings } from './media/settings.ts';

import { DIGEST_ALGORITHMS, type DigestAlgorithm } from '../contract/sipAccounts.ts';

export { DIGEST_ALGORITHMS, type DigestAlgorithm } from '../contract/sipAccounts.ts';

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const isUsableIPv4 = (h: string) => isIP(h) === 4 && h !== '0.0.0.0';
const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');

export const digestAlgorithmList = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((a) => a.trim().toUpperCase())
      .filter(Boolean),
  )
  .pipe(
    z
      .array(z.enum(DIGEST_ALGORITHMS))
      .min(1, 'at least one algorithm')
      .refine((l) => new Set(l).size === l.length, 'algorithms must not repeat'),
  );

/** CIDR blocks and addresses, comma-separated, or `none`. */
const addressRanges = (byDefault: string) =>
  z
    .string()
    .default(byDefault)
    .transform((t, ctx) => {
      const r = parseDeniedRanges(t);
      if (typeof r === 'string') {
        ctx.addIssue({ code: 'custom', message: r });
        return z.NEVER;
      }
      return r;
    });

/** A port, or `off` for a listener that is not wanted. */
const portOrOff = (byDefault: string) =>
  z
    .string()
    .default(byDefault)
    .transform((v, ctx) => {
      if (v.trim().toLowerCase() === 'off') return null;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) {
        ctx.addIssue({ code: 'custom', message: 'must be a port (0-65535) or off' });
        return z.NEVER;
      }
      return n;
    });

/** `cert.pem[:key.pem]`, comma-separated: a certificate (chain) and its key, the first the default. */
const certificateList = z
  .string()
  .default('')
  .transform((t) =>
    t
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean)
      .map((e) => {
        const [cert = '', key] = e.split(':');
        return { certFile: path.resolve(cert), keyFile: path.resolve(key || cert) };
      }),
  );

const databaseUrl = z.string().refine((u) => /^(mysql|sqlite):\/\//.test(u), 'must start with mysql:// or sqlite://');

/** Every setting the server reads, with its environment variable and default. */
const schema = z
  .object({
    SIP_HOST: z
      .string()
      .refine((h) => isIP(h) === 4, 'must be an IPv4 address')
      .default('127.0.0.1'),
    SIP_PORT: port.default(5060),
    SIP_ADVERTISED_ADDRESS: z
      .string()
      .optional()
      .transform((v, ctx) => {
        if (!v) return undefined;
        const a = parseHostPort(v);
        if (!a || a.family === 6) {
          ctx.addIssue({ code: 'custom', message: 'must be host or host:port (an IPv4 address or a DNS name)' });
          return z.NEVER;
        }
        return { host: a.host.toLowerCase(), port: a.port };
      }),
    SIP_DOMAIN: z.string().min(1).optional(),
    SIP_DOMAIN_ALIASES: z.string().default(''),
    SIP_DIGEST_ALGORITHMS: digestAlgorithmList.prefault('MD5'),
    SIP_NONCE_TTL_SECONDS: positiveInt.default(60),
    SIP_MIN_EXPIRES: positiveInt.default(60),
    SIP_MAX_EXPIRES: positiveInt.default(3600),
    SIP_DEFAULT_EXPIRES: positiveInt.default(3600),
    SIP_MAX_CONTACTS: positiveInt.default(3),
    SIP_MAX_MESSAGE_BYTES: positiveInt.max(65535).default(16384),
    SIP_TCP_IDLE_SECONDS: positiveInt.default(300),
    SIP_TCP_MAX_CONNECTIONS: positiveInt.default(10000),
    SIP_CONNECTIONS_PER_SOURCE: positiveInt.default(64),
    SIP_STREAM_MESSAGE_SECONDS: positiveInt.default(10),
    SIP_UDP_BACKLOG_PER_SOURCE: positiveInt.default(64),
    SIP_UNAUTHENTICATED_PER_SECOND: z.coerce.number().int().min(0).default(50),
    SIP_TLS_PORT: portOrOff('5061'),
    HTTPS_PORT: portOrOff('8443'),
    TLS_CERTIFICATES: certificateList,
    TLS_RELOAD_SECONDS: positiveInt.default(10),
    SIP_TLS_CA_FILE: z.string().optional(),
    SIP_WS_ALLOWED_ORIGINS: z
      .string()
      .default('')
      .transform((t) =>
        t
          .split(',')
          .map((o) => o.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.url({ protocol: /^https?$/, error: 'must be a comma-separated list of origins such as https://app.example.com' }))),
    HTTP_HOST: z.string().default('127.0.0.1'),
    HTTP_PORT: port.default(8080),
    HTTP_TRUST_PROXY: bool.prefault('false'),
    HTTP_SIGNUPS_PER_HOUR: positiveInt.default(10),
    HTTP_LOGINS_PER_15MIN: positiveInt.default(10),
    HTTP_LOGINS_PER_15MIN_PER_ADDRESS: positiveInt.default(30),
    HTTP_EVENT_STREAMS_PER_TENANT: positiveInt.default(10),
    OPERATOR_EMAILS: z
      .string()
      .default('')
      .transform((t) =>
        t
          .split(',')
          .map((e) => e.trim().toLowerCase())
          .filter(Boolean),
      )
      .pipe(z.array(z.email('must be a comma-separated list of e-mail addresses'))),
    DATA_DIR: z.string().default('./data'),
    DATABASE_URL: databaseUrl.optional(),
    SECRET_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
    CREDENTIALS_KEY: z.string().optional(),
    CREDENTIALS_KEY_FILE: z.string().optional(),
    NODE_ID: z.string().min(1).max(100).optional(),
    SIP_FRONT_DOORS: z
      .string()
      .default('')
      .transform((t) =>
        t
          .split(',')
          .map((a) => a.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.string().regex(/^[0-9.]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'must be a comma-separated list of ip:port'))),
    REDIS_URL: z
      .string()
      .regex(/^rediss?:\/\/[^\s]+$/, 'must be a redis:// or rediss:// URL')
      .optional(),
    NODE_HEARTBEAT_SECONDS: positiveInt.default(2),
    NODE_DEAD_AFTER_SECONDS: positiveInt.default(10),
    PROVIDER_LEASE_SECONDS: positiveInt.default(15),
    DNS_SERVERS: z.string().default(''),
    DESTINATION_DENY: addressRanges(DEFAULT_DENIED_DESTINATIONS.join(',')),
    DESTINATION_ALLOW: addressRanges('none'),
    DNS_TIMEOUT_MS: positiveInt.default(2000),
    PROVIDER_RETRY_MIN_SECONDS: positiveInt.default(30),
    PROVIDER_RETRY_MAX_SECONDS: positiveInt.default(1800),
    PROVIDERS_PER_TENANT: positiveInt.default(20),
    PROVIDER_PING_SECONDS: positiveInt.default(60),
    PROVIDER_NXDOMAIN_DISABLE_HOURS: z.coerce.number().positive().default(24),
    DIALPLAN_WORKERS: positiveInt.max(64).default(2),
    DIALPLAN_CPU_MS: positiveInt.default(50),
    DIALPLAN_FIRST_DIAL_SECONDS: positiveInt.default(10),
    DIALPLAN_MAX_SECONDS: positiveInt.default(300),
    DIALPLAN_HEAP_MB: positiveInt.min(8).max(1024).default(32),
    DIALPLAN_MAX_LEGS: positiveInt.default(20),
    DIALPLAN_TENANT_CONCURRENCY: positiveInt.default(5),
    DIALPLAN_WORKER_CONCURRENCY: positiveInt.default(32),
    DIALPLAN_WORKER_RSS_MB: positiveInt.default(150),
    DIALPLAN_WARM_EXECUTIONS: positiveInt.default(1000),
    CDR_RETENTION_DAYS: positiveInt.max(36500).default(90),
    RECORDING_RETENTION_DAYS: positiveInt.max(36500).default(90),
    RECORDINGS_MB_PER_TENANT: positiveInt.max(10_485_760).default(1024),
    RECORDINGS_S3_BUCKET: z.string().min(3).max(63).optional(),
    RECORDINGS_S3_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be the http(s) URL of an S3-compatible service' }).optional(),
    RECORDINGS_S3_REGION: z.string().min(1).default('us-east-1'),
    RECORDINGS_S3_PREFIX: z.string().default(''),
    RECORDINGS_S3_ACCESS_KEY_ID: z.string().min(1).optional(),
    RECORDINGS_S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
    CALL_MAX_SECONDS: positiveInt.default(4 * 3600),
    CALLS_PER_TENANT: positiveInt.default(20),
    CALLS_PER_MINUTE_PER_TENANT: positiveInt.default(60),
    STRANGER_CALLS_PER_TENANT: positiveInt.default(10),
    STRANGER_CALLS_PER_SOURCE: positiveInt.default(5),
    SIP_INVITES_PER_MINUTE_PER_SOURCE: positiveInt.default(60),
    SHUTDOWN_GRACE_SECONDS: positiveInt.default(30),
    CALL_STATE_PERSISTENCE: bool.prefault('true'),
    LOCAL_SNAPSHOT_SECONDS: positiveInt.default(60),
    CDR_SPOOL_RESERVE_MB: z.coerce.number().int().min(0).max(65536).default(16),
    DATA_DIR_MIN_FREE_MB: z.coerce.number().int().min(0).default(16),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    LOG_PRETTY: bool.optional(),
    MEDIA_ENGINE: z.enum(MEDIA_ENGINES).default('auto'),
    ICE_CANDIDATE_ALLOW: addressRanges('none'),
    SOFTPHONE_PASSWORD_SECONDS: z.coerce.number().int().min(1).max(86_400).default(600),
    MEDIA_HOST: z
      .string()
      .refine((h) => isIP(h) === 4, 'must be an IPv4 address')
      .optional(),
    MEDIA_ADVERTISED_ADDRESS: z
      .string()
      .refine((h) => isUsableIPv4(h), 'must be an IPv4 address (not 0.0.0.0)')
      .optional(),
    MEDIA_PORT_MIN: port.refine((p) => p >= 1024, 'must be 1024 or more').default(30000),
    MEDIA_PORT_MAX: port.default(40000),
    MEDIA_NO_RTP_FLAG_SECONDS: z.coerce.number().int().min(0).default(10),
    MEDIA_NO_RTP_HANGUP_SECONDS: z.coerce.number().int().min(0).default(60),
    RTPENGINE_BINARY: z.string().min(1).default('rtpengine'),
    RTPENGINE_NG: z
      .string()
      .optional()
      .transform((v, ctx) => {
        if (!v) return undefined;
        const a = parseHostPort(v);
        if (!a?.port || isIP(a.host) !== 4) {
          ctx.addIssue({ code: 'custom', message: 'must be ip:port (IPv4) of an rtpengine ng control socket' });
          return z.NEVER;
        }
        return { host: a.host, port: a.port };
      }),
  })
  .refine((c) => c.SIP_MIN_EXPIRES <= c.SIP_MAX_EXPIRES, {
    message: 'SIP_MIN_EXPIRES must not exceed SIP_MAX_EXPIRES',
    path: ['SIP_MIN_EXPIRES'],
  })
  .refine((c) => c.MEDIA_PORT_MIN + 1 < c.MEDIA_PORT_MAX, {
    message: 'must be above MEDIA_PORT_MIN + 1 (the range holds RTP/RTCP port pairs)',
    path: ['MEDIA_PORT_MAX'],
  })
  .refine((c) => c.MEDIA_NO_RTP_HANGUP_SECONDS === 0 || c.MEDIA_NO_RTP_FLAG_SECONDS <= c.MEDIA_NO_RTP_HANGUP_SECONDS, {
    message: 'must not exceed MEDIA_NO_RTP_HANGUP_SECONDS',
    path: ['MEDIA_NO_RTP_FLAG_SECONDS'],
  })
  .refine((c) => c.SIP_HOST !== '0.0.0.0' || c.SIP_ADVERTISED_ADDRESS, {
    message: 'is required when SIP_HOST is 0.0.0.0: the address phones and providers reach this node at',
    path: ['SIP_ADVERTISED_ADDRESS'],
  });

/** The transport's limits, as the configuration sets them (see TransportOptions for what each means). */
type TransportLimits = Pick<TransportOptions, 'maxMessageBytes' | 'tcpIdleSeconds' | 'tcpMaxConnections' | 'connectionsPerSource' | 'streamMessageSeconds' | 'udpBacklogPerSource'>;

/**
 * An S3-compatible bucket for recordings; `endpoint` for a service other than AWS (addressed by
 * path); without `credentials`, the AWS SDK's own (AWS_ACCESS_KEY_ID, a profile, an instance role).
 */
export interface S3Settings {
  bucket: string;
  region: string;
  prefix: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/**
 * Recordings: deleted after `retentionDays`; a tenant holding `bytesPerTenant` cannot start another;
 * kept in `s3` when a bucket is configured, else under DATA_DIR/recordings.
 */
export interface RecordingSettings {
  retentionDays: number;
  bytesPerTenant: number;
  s3: S3Settings | null;
}

export interface Config {
  sip: TransportLimits & {
    host: string;
    port: number;
    /**
     * What goes into our Via and Contact headers and what phones are told to use as their proxy:
     * the bind address, or `SIP_ADVERTISED_ADDRESS` (behind NAT, or bound to 0.0.0.0).
     * `port` null: the port SIP is bound to.
     */
    advertised: { host: string; port: number | null };
    domain: string;
    domainAliases: string[];
    digestAlgorithms: DigestAlgorithm[];
    nonceTtlSeconds: number;
    minExpires: number;
    maxExpires: number;
    defaultExpires: number;
    maxContacts: number;
    /** The cluster's front doors (`ip:port`), whose X-Sipswitch-Source says where a request came from (sip/frontDoor.ts). */
    frontDoors: string[];
    /**
     * New requests without credentials one source address may send per second (10 s of them at
     * once); beyond it they are dropped unanswered. 0: no limit.
     */
    unauthenticatedPerSecond: number;
  };
  /**
   * SIP over TLS and WebSocket: the TLS port (null: none), the HTTPS port serving the portal and
   * `wss://` (null: none), the certificate files (none: a generated self-signed one), how often
   * they are checked for changes, extra CAs trusted when this node connects out over TLS, and the
   * origins besides the portal's whose pages may open a SIP WebSocket.
   */
  tls: {
    sipPort: number | null;
    httpsPort: number | null;
    certificates: Array<{ certFile: string; keyFile: string }>;
    reloadSeconds: number;
    trustedCaFile: string | null;
    webSocketOrigins: string[];
  };
  http: {
    host: string;
    port: number;
    trustProxy: boolean;
    signupsPerHour: number;
    loginsPer15Min: number;
    /** Login attempts one address may make per 15 minutes, whatever emails it tries (password spraying). */
    loginsPer15MinPerAddress: number;
    /** How long a softphone's SIP password (POST /sip-accounts/:id/browser-session) is good for. */
    softphonePasswordSeconds: number;
    /** Open event streams (`GET /events`) a tenant may have on this node. */
    eventStreamsPerTenant: number;
  };
  /** Users who see and lift every SIP ban (their e-mail addresses, in lower case); see README, "Security". */
  operatorEmails: string[];
  dataDir: string;
  databaseUrl: string;
  /** Where the data lives, in words for the start-up banner (no password). */
  databaseDescription: string;
  /** Signs SIP nonces; random per process when unset (nodes sharing a domain should share it). */
  secretKey: string | null;
  /**
   * Seals provider passwords: the key itself (`CREDENTIALS_KEY`, 32 bytes as hex or base64) or a
   * file holding it; without either, a key is generated into `DATA_DIR/credentials.key`.
   */
  credentials: { key: string | null; keyFile: string };
  /** Resolvers for provider hosts (`host:port`, comma-separated); empty means the system's. */
  dns: { servers: string[]; timeoutMs: number };
  /** Address ranges dialplans, transfers and providers may not send SIP to (the switch's own network). */
  deniedDestinations: string[];
  /** Ranges opened again inside the denied ones (a private deployment's own PBXs and carriers). */
  allowedDestinations: string[];
  providers: { retryMinMs: number; retryMaxMs: number; nxdomainDisableMs: number; perTenant: number; pingIntervalMs: number };
  nodeId: string;
  /**
   * Several nodes (server/cluster.ts): Redis for the limits shared by the cluster (none: this
   * node's own counts) and the provider registration leases (how long one lasts unrenewed), and on
   * MySQL the heartbeat and how long a silent node has before a survivor ends its calls.
   */
  cluster: { redisUrl: string | null; heartbeatMs: number; deadAfterMs: number; providerLeaseMs: number };
  log: { level: string; pretty: boolean };
  /**
   * `shutdownGraceMs`: how long calls being set up may take to finish when the node is stopped.
   * `persistState`: whether live calls are written for a restart to resume (off only to measure its cost).
   */
  calls: { maxSeconds: number; limits: CallLimits; shutdownGraceMs: number; persistState: boolean };
  /** The dialplan runner's limits that are settings; the others keep the runner's defaults. */
  dialplan: Pick<DialplanLimits, ConfiguredDialplanLimit> & { workers: number; workerRssBytes: number };
  /** Call records older than this are purged (in small batches, hourly). */
  cdr: { retentionDays: number };
  recordings: RecordingSettings;
  /**
   * What the node keeps on its own disk (DATA_DIR) to ride out failures: how often the sealed
   * snapshot of what it serves without the database is refreshed, the space pre-allocated for
   * call records the database does not take, and the free space below which it is not ready.
   */
  localDisk: { snapshotIntervalMs: number; spoolReserveBytes: number; minFreeBytes: number };
  /** The media relay: which engine, where it binds and what it advertises, its ports and no-RTP timers. */
  media: MediaSettings;
}

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

/** Reads `KEY=value` lines; blank lines and `#` comments are ignored. */
function readEnvFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [i, raw] of readFileSync(file, 'utf8').split('\n').entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 1) throw new ConfigError([`${file}:${i + 1}: expected KEY=value`]);
    out[line.slice(0, eq).trim()] = line
      .slice(eq + 1)
      .trim()
      .replace(/^(['"])(.*)\1$/, '$2');
  }
  return out;
}

/**
 * Validates the configuration once, at start-up. `CONFIG_FILE` names an optional env-style file;
 * the process environment wins over it.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const fromFile = env.CONFIG_FILE ? readEnvFile(env.CONFIG_FILE) : {};
  const merged: Record<string, string | undefined> = { ...fromFile };
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') merged[k] = v;

  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`));
  }
  const c = parsed.data;
  const dataDir = path.resolve(c.DATA_DIR);
  const databaseUrl = c.DATABASE_URL ?? `sqlite://${path.join(dataDir, 'switch.sqlite')}`;
  const domain = c.SIP_DOMAIN ?? hostname();
  return {
    sip: {
      host: c.SIP_HOST,
      port: c.SIP_PORT,
      advertised: c.SIP_ADVERTISED_ADDRESS ?? { host: c.SIP_HOST, port: null },
      domain,
      domainAliases: c.SIP_DOMAIN_ALIASES.split(',')
        .map((s) => s.trim().toLowerCase())
        .filter(Boolean),
      digestAlgorithms: c.SIP_DIGEST_ALGORITHMS,
      nonceTtlSeconds: c.SIP_NONCE_TTL_SECONDS,
      minExpires: c.SIP_MIN_EXPIRES,
      maxExpires: c.SIP_MAX_EXPIRES,
      defaultExpires: Math.min(Math.max(c.SIP_DEFAULT_EXPIRES, c.SIP_MIN_EXPIRES), c.SIP_MAX_EXPIRES),
      maxContacts: c.SIP_MAX_CONTACTS,
      maxMessageBytes: c.SIP_MAX_MESSAGE_BYTES,
      tcpIdleSeconds: c.SIP_TCP_IDLE_SECONDS,
      tcpMaxConnections: c.SIP_TCP_MAX_CONNECTIONS,
      connectionsPerSource: c.SIP_CONNECTIONS_PER_SOURCE,
      streamMessageSeconds: c.SIP_STREAM_MESSAGE_SECONDS,
      udpBacklogPerSource: c.SIP_UDP_BACKLOG_PER_SOURCE,
      unauthenticatedPerSecond: c.SIP_UNAUTHENTICATED_PER_SECOND,
      frontDoors: c.SIP_FRONT_DOORS,
    },
    tls: {
      sipPort: c.SIP_TLS_PORT,
      httpsPort: c.HTTPS_PORT,
      certificates: c.TLS_CERTIFICATES,
      reloadSeconds: c.TLS_RELOAD_SECONDS,
      trustedCaFile: c.SIP_TLS_CA_FILE ? path.resolve(c.SIP_TLS_CA_FILE) : null,
      webSocketOrigins: c.SIP_WS_ALLOWED_ORIGINS,
    },
    http: {
      host: c.HTTP_HOST,
      port: c.HTTP_PORT,
      trustProxy: c.HTTP_TRUST_PROXY,
      signupsPerHour: c.HTTP_SIGNUPS_PER_HOUR,
      loginsPer15Min: c.HTTP_LOGINS_PER_15MIN,
      loginsPer15MinPerAddress: c.HTTP_LOGINS_PER_15MIN_PER_ADDRESS,
      eventStreamsPerTenant: c.HTTP_EVENT_STREAMS_PER_TENANT,
      softphonePasswordSeconds: c.SOFTPHONE_PASSWORD_SECONDS,
    },
    operatorEmails: c.OPERATOR_EMAILS,
    dataDir,
    databaseUrl,
    databaseDescription: describeDatabase(databaseUrl),
    secretKey: c.SECRET_KEY ?? null,
    credentials: { key: c.CREDENTIALS_KEY ?? null, keyFile: path.resolve(c.CREDENTIALS_KEY_FILE ?? path.join(dataDir, 'credentials.key')) },
    deniedDestinations: c.DESTINATION_DENY,
    allowedDestinations: c.DESTINATION_ALLOW,
    dns: {
      servers: c.DNS_SERVERS.split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      timeoutMs: c.DNS_TIMEOUT_MS,
    },
    providers: {
      retryMinMs: c.PROVIDER_RETRY_MIN_SECONDS * 1000,
      retryMaxMs: Math.max(c.PROVIDER_RETRY_MAX_SECONDS, c.PROVIDER_RETRY_MIN_SECONDS) * 1000,
      nxdomainDisableMs: c.PROVIDER_NXDOMAIN_DISABLE_HOURS * 3600_000,
      perTenant: c.PROVIDERS_PER_TENANT,
      pingIntervalMs: c.PROVIDER_PING_SECONDS * 1000,
    },
    nodeId: c.NODE_ID ?? `${hostname()}:${c.SIP_PORT}`,
    cluster: {
      redisUrl: c.REDIS_URL ?? null,
      heartbeatMs: c.NODE_HEARTBEAT_SECONDS * 1000,
      deadAfterMs: Math.max(c.NODE_DEAD_AFTER_SECONDS, 2 * c.NODE_HEARTBEAT_SECONDS) * 1000,
      providerLeaseMs: c.PROVIDER_LEASE_SECONDS * 1000,
    },
    log: { level: c.LOG_LEVEL, pretty: c.LOG_PRETTY ?? Boolean(process.stdout.isTTY) },
    calls: {
      maxSeconds: c.CALL_MAX_SECONDS,
      limits: {
        perTenant: c.CALLS_PER_TENANT,
        perMinute: c.CALLS_PER_MINUTE_PER_TENANT,
        strangersPerTenant: c.STRANGER_CALLS_PER_TENANT,
        strangersPerSource: c.STRANGER_CALLS_PER_SOURCE,
        invitesPerMinutePerSource: c.SIP_INVITES_PER_MINUTE_PER_SOURCE,
      },
      shutdownGraceMs: c.SHUTDOWN_GRACE_SECONDS * 1000,
      persistState: c.CALL_STATE_PERSISTENCE,
    },
    dialplan: {
      workers: c.DIALPLAN_WORKERS,
      cpuMsPerSlice: c.DIALPLAN_CPU_MS,
      firstDialMs: c.DIALPLAN_FIRST_DIAL_SECONDS * 1000,
      absoluteMs: c.DIALPLAN_MAX_SECONDS * 1000,
      heapMb: c.DIALPLAN_HEAP_MB,
      legsPerExecution: c.DIALPLAN_MAX_LEGS,
      tenantConcurrency: c.DIALPLAN_TENANT_CONCURRENCY,
      workerConcurrency: c.DIALPLAN_WORKER_CONCURRENCY,
      workerRssBytes: c.DIALPLAN_WORKER_RSS_MB * 1024 * 1024,
      warmExecutions: c.DIALPLAN_WARM_EXECUTIONS,
    },
    cdr: { retentionDays: c.CDR_RETENTION_DAYS },
    recordings: {
      retentionDays: c.RECORDING_RETENTION_DAYS,
      bytesPerTenant: c.RECORDINGS_MB_PER_TENANT * 1024 * 1024,
      s3: c.RECORDINGS_S3_BUCKET
        ? {
            bucket: c.RECORDINGS_S3_BUCKET,
            region: c.RECORDINGS_S3_REGION,
            prefix: c.RECORDINGS_S3_PREFIX,
            ...(c.RECORDINGS_S3_ENDPOINT ? { endpoint: c.RECORDINGS_S3_ENDPOINT } : {}),
            ...(c.RECORDINGS_S3_ACCESS_KEY_ID && c.RECORDINGS_S3_SECRET_ACCESS_KEY
              ? { credentials: { accessKeyId: c.RECORDINGS_S3_ACCESS_KEY_ID, secretAccessKey: c.RECORDINGS_S3_SECRET_ACCESS_KEY } }
              : {}),
          }
        : null,
    },
    localDisk: {
      snapshotIntervalMs: c.LOCAL_SNAPSHOT_SECONDS * 1000,
      spoolReserveBytes: c.CDR_SPOOL_RESERVE_MB * 1024 * 1024,
      minFreeBytes: c.DATA_DIR_MIN_FREE_MB * 1024 * 1024,
    },
    media: {
      engine: c.MEDIA_ENGINE,
      bindAddress: c.MEDIA_HOST ?? c.SIP_HOST,
      advertisedAddress: c.MEDIA_ADVERTISED_ADDRESS ?? c.SIP_ADVERTISED_ADDRESS?.host ?? c.SIP_HOST,
      portMin: c.MEDIA_PORT_MIN,
      portMax: c.MEDIA_PORT_MAX,
      noRtpFlagMs: c.MEDIA_NO_RTP_FLAG_SECONDS * 1000,
      noRtpHangupMs: c.MEDIA_NO_RTP_HANGUP_SECONDS * 1000,
      rtpengine: { binary: c.RTPENGINE_BINARY, ng: c.RTPENGINE_NG ?? null },
      iceCandidateAllow: c.ICE_CANDIDATE_ALLOW.length ? c.ICE_CANDIDATE_ALLOW : null,
    },
  };
}

function describeDatabase(url: string): string {
  if (url.startsWith('sqlite://')) return `SQLite file ${url.slice('sqlite://'.length)}`;
  const u = new URL(url);
  return `MySQL database ${u.pathname.slice(1)} on ${u.hostname}:${u.port || 3306} as ${decodeURIComponent(u.username)}`;
}

/**
 * Refuses to go on unless the data directory exists (or can be made) and a file can be written in
 * it: a permission check alone says yes to root on a read-only file system. The probe goes into the
 * nearest directory that exists before anything is created, because Node 20's recursive mkdir
 * never returns under /proc.
 */
export function ensureDataDirWritable(dir: string): void {
  let existing = path.resolve(dir);
  while (!existsSync(existing) && path.dirname(existing) !== existing) existing = path.dirname(existing);
  try {
    const probe = path.join(existing, `.write-probe-${process.pid}`);
    writeFileSync(probe, 'ok');
    rmSync(probe);
    if (existing !== path.resolve(dir)) mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new ConfigError([`DATA_DIR: ${dir} is not writable (${(err as Error).message})`]);
  }
}
