/**
 * Why a DNS lookup for a SIP target failed, in the three kinds its callers act on differently:
 * the registration agent disables a provider only after `nxdomain` persists, and keeps retrying
 * `transient` failures (and `nodata`, which a zone fix can end at any time).
 */
export type DnsFailureKind = 'nxdomain' | 'nodata' | 'transient';

export class DnsLookupError extends Error {
  override readonly name = 'DnsLookupError';

  constructor(
    readonly kind: DnsFailureKind,
    /** The DNS name whose lookup failed (the host, an `_sip._udp.` name or an SRV target). */
    readonly hostname: string,
    /** Node's error code (ENOTFOUND, ESERVFAIL, ETIMEOUT, ...) when one lookup caused it. */
    readonly code: string | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The kind of a node:dns error code. ENOTFOUND is c-ares's answer to an NXDOMAIN reply; EBADNAME
 * (a malformed name, e.g. `a..b`) can never resolve either. ENODATA is a NOERROR reply without
 * records of the asked type. Everything else (ETIMEOUT, ESERVFAIL, EREFUSED, ECONNREFUSED, a bad
 * reply, ...) says nothing about the name, so it is worth trying again.
 */
export function failureKind(code: string | undefined): DnsFailureKind {
  if (code === 'ENOTFOUND' || code === 'EBADNAME') return 'nxdomain';
  if (code === 'ENODATA') return 'nodata';
  return 'transient';
}
