/** SIP accounts (the tenant's phones) as the switch and the portal both speak of them. */

/** The digest algorithms the switch can challenge with. */
export const DIGEST_ALGORITHMS = ['MD5', 'SHA-256'] as const;
export type DigestAlgorithm = (typeof DIGEST_ALGORITHMS)[number];
