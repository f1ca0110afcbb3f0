/**
 * Row types of every table, as Kysely sees them. Times are epoch milliseconds (BIGINT) and flags are
 * 0/1 integers so that one set of migrations and queries serves SQLite and MySQL alike.
 */
import type { Generated } from 'kysely';

export interface TenantsTable {
  id: string;
  name: string;
  time_zone: string;
  /** ISO 3166-1 alpha-2; null until the tenant sets it. */
  country: string | null;
  international_calls: Generated<number>;
  created_at: number;
}

export interface UsersTable {
  id: string;
  tenant_id: string;
  email: string;
  password_hash: string;
  created_at: number;
}

export interface SessionsTable {
  /** SHA-256 of the cookie token: a stolen database does not yield live sessions. */
  id: string;
  user_id: string;
  tenant_id: string;
  expires_at: number;
  created_at: number;
}

export interface ApiKeysTable {
  id: string;
  tenant_id: string;
  name: string;
  /** SHA-256 of the key; the key itself is shown once, at creation. */
  token_hash: string;
  prefix: string;
  /** `full`, or `read-only` (safe methods only). */
  scope: string;
  /** Epoch ms after which the key is refused; null: never. */
  expires_at: number | null;
  created_at: number;
  last_used_at: number | null;
}

/** A call's SIP messages (contract/callTrace.ts TracedMessage[] as JSON), kept as long as its record. */
export interface CallTracesTable {
  call_id: string;
  tenant_id: string;
  started_at: number;
  messages: string;
  dropped: number;
}

export interface SipAccountsTable {
  id: string;
  tenant_id: string;
  /** Unique on the switch: phones register as username@SIP_DOMAIN. */
  username: string;
  display_name: string | null;
  /** The realm the HA1 digests were computed for; a different SIP_DOMAIN needs new passwords. */
  realm: string;
  ha1_md5: string;
  ha1_sha256: string;
  /** Comma-separated digest algorithms offered to this account, in order; null = switch default. */
  digest_algorithms: string | null;
  enabled: number;
  /** Dialplan for calls this account's phone places; null = the tenant's `default`. */
  dialplan_out: string | null;
  /** Dialplan for calls to this account; null = ring its phones. */
  dialplan_in: string | null;
  /** The short number colleagues dial (digits, unique within the tenant); null = none. */
  extension: string | null;
  created_at: number;
  updated_at: number;
}

export interface RegistrationsTable {
  id: string;
  tenant_id: string;
  account_id: string;
  /** SHA-256 of the contact URI: the binding's identity within the account, indexable on MySQL. */
  contact_hash: string;
  contact_uri: string;
  call_id: string;
  cseq: number;
  expires_at: number;
  /** Where the REGISTER really came from (NAT): requests to this phone go there. */
  source_ip: string;
  source_port: number;
  transport: string;
  user_agent: string | null;
  /** Digest algorithm the phone authenticated with. */
  algorithm: string;
  /** The node that took the REGISTER (and holds the phone's connection, if it has one). */
  node_id: string;
  /** The Path (RFC 3327) the REGISTER came through, a JSON array of URIs; null when it came straight here. */
  path: string | null;
  created_at: number;
  updated_at: number;
}

export interface DialplansTable {
  id: string;
  tenant_id: string;
  name: string;
  current_version: number;
  created_at: number;
  updated_at: number;
}

export interface DialplanVersionsTable {
  id: string;
  dialplan_id: string;
  tenant_id: string;
  version: number;
  source: string;
  created_at: number;
}

export interface KvTable {
  tenant_id: string;
  k: string;
  /** JSON text. */
  v: string;
  updated_at: number;
}

export interface LiveCallsTable {
  call_id: string;
  tenant_id: string;
  node_id: string;
  /** JSON of the call's restart state (server/calls/persistence.ts). */
  state: string;
  updated_at: number;
}

export interface AuditEventsTable {
  id: Generated<number>;
  tenant_id: string | null;
  at: number;
  kind: string;
  detail: string;
}

export interface ProvidersTable {
  id: string;
  tenant_id: string;
  name: string;
  host: string;
  port: number | null;
  transport: string;
  outbound_proxy: string | null;
  username: string | null;
  auth_username: string | null;
  password_enc: string | null;
  realm: string | null;
  from_user: string | null;
  from_host: string | null;
  from_display: string | null;
  /** JSON object of header name → value template. */
  headers: string;
  register: number;
  register_expires: number;
  contact_user: string | null;
  line_token: string;
  dialplan: string | null;
  /** JSON array of addresses (IPs or CIDRs) the provider's calls come from. */
  source_addresses: string;
  enabled: number;
  created_at: number;
  updated_at: number;
}

export interface ProviderStatusTable {
  provider_id: string;
  tenant_id: string;
  state: string;
  last_status: number | null;
  last_reason: string | null;
  last_error: string | null;
  next_attempt_at: number | null;
  registered_until: number | null;
  rtt_ms: number | null;
  updated_at: number;
}

/** One switch node of a cluster sharing this database (server/store/nodes.ts). */
export interface NodesTable {
  id: string;
  /** Where the node takes SIP (host:port), and its portal/API. */
  sip_address: string;
  http_url: string;
  started_at: number;
  heartbeat_at: number;
  /** Set when the node stopped cleanly; null while it runs (or after it died). */
  stopped_at: number | null;
  /** The survivor that ended this node's calls after it died, and when. */
  taken_over_by: string | null;
  taken_over_at: number | null;
}

export interface ProviderNumbersTable {
  /** Digits only: the API normalises `+49 30 …` to `4930…`. */
  number: string;
  provider_id: string;
  tenant_id: string;
  created_at: number;
}

export interface Database {
  tenants: TenantsTable;
  users: UsersTable;
  sessions: SessionsTable;
  api_keys: ApiKeysTable;
  sip_accounts: SipAccountsTable;
  registrations: RegistrationsTable;
  audit_events: AuditEventsTable;
  dialplans: DialplansTable;
  dialplan_versions: DialplanVersionsTable;
  kv: KvTable;
  live_calls: LiveCallsTable;
  providers: ProvidersTable;
  provider_status: ProviderStatusTable;
  provider_numbers: ProviderNumbersTable;
  nodes: NodesTable;
  call_traces: CallTracesTable;
}
