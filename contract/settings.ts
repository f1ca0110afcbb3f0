/** The tenant's settings and the switch's limits, as GET and PATCH /settings answer them. */
import type { DigestAlgorithm } from './sipAccounts.ts';

/** The limits the switch enforces for every tenant, as the settings page lists them. */
export interface LimitsView {
  callsAtOnce: number;
  callsPerMinute: number;
  strangerCallsAtOnce: number;
  callMaxSeconds: number;
  registration: { minExpiresSeconds: number; maxExpiresSeconds: number; contactsPerAccount: number };
  dialplan: {
    cpuMsPerSlice: number;
    secondsBeforeFirstDial: number;
    maxSeconds: number;
    heapMb: number;
    legsPerExecution: number;
    concurrentExecutions: number;
  };
  cdrRetentionDays: number;
  store: { keys: number; valueBytes: number; totalBytes: number };
  eventStreams: number;
  portal: { signupsPerHour: number; loginsPer15Min: number; loginsPer15MinPerAddress: number };
}

/** Where phones connect to. */
export interface SipSettingsView {
  domain: string;
  domainAliases: string[];
  proxy: { host: string; port: number };
  transports: string[];
  digestAlgorithms: DigestAlgorithm[];
}

/**
 * SIP over TLS and WebSocket: the TLS port, where a browser's WebSocket connects (on the portal's
 * host: `ws://` on the HTTP port, `wss://` on the HTTPS one), and the certificates serving now;
 * `selfSigned` says they are the generated one, which phones and browsers do not trust.
 */
export interface TlsView {
  sipPort: number | null;
  host: string;
  webSocket: { path: string; wsPort: number | null; wssPort: number | null; extraOrigins: string[] };
  selfSigned: boolean;
  certificates: Array<{ names: string[]; notAfter: string; fingerprint256: string }>;
  lastReloadError: string | null;
}

export interface SettingsView {
  name: string;
  timeZone: string;
  /** Home country (ISO 3166-1 alpha-2); null until set. */
  country: string | null;
  internationalCalls: boolean;
  sip: SipSettingsView;
  limits: LimitsView;
  /** Null when the switch has no TLS or WebSocket listener. */
  tls: TlsView | null;
}
