/**
 * What a tenant defines for a provider, as the API takes and returns it. Types only and no
 * imports, so the portal checks its forms against these very shapes (web/src/api/types.ts).
 */

export type ProviderTransport = 'udp' | 'tcp';

/** Where the registration agent is with a provider. */
export type ProviderState = 'disabled' | 'idle' | 'registering' | 'registered' | 'failed';

export interface ProviderSettings {
  name: string;
  host: string;
  port: number | null;
  transport: ProviderTransport;
  outboundProxy: string | null;
  username: string | null;
  authUsername: string | null;
  realm: string | null;
  fromUser: string | null;
  fromHost: string | null;
  fromDisplay: string | null;
  headers: Record<string, string>;
  register: boolean;
  registerExpires: number;
  contactUser: string | null;
  dialplan: string | null;
  sourceAddresses: string[];
  /** Numbers (DIDs, digits only) this entry delivers; each held by one entry on the switch. */
  numbers: string[];
  enabled: boolean;
}
