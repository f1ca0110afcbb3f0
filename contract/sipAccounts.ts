/** SIP accounts (the tenant's phones) as the switch and the portal both speak of them. */

/** The digest algorithms the switch can challenge with. */
export const DIGEST_ALGORITHMS = ['MD5', 'SHA-256'] as const;
export type DigestAlgorithm = (typeof DIGEST_ALGORITHMS)[number];

/**
 * What POST /sip-accounts/:id/browser-session answers: what the portal's softphone (JsSIP) needs to
 * be that account from the browser, with a short-lived password instead of the account's own.
 */
export interface BrowserSessionView {
  accountId: string;
  /** The SIP WebSocket on the portal's own origin (`wss://host:8443/sip`). */
  webSocketUrl: string;
  sipUri: string;
  authorizationUser: string;
  displayName: string | null;
  extension: string | null;
  /** Random, good until `expiresAt`; the switch keeps only its digests. */
  password: string;
  expiresAt: string;
}
