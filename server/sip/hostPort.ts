/**
 * Hosts and `host[:port]` as settings and tenants write them: the one parser (an IPv6 address in
 * brackets when a port may follow), and the one test of what a host may be.
 */
import { isIP } from 'node:net';

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** A DNS name or an IP address (IPv6 with or without brackets); digits and dots alone must be an IPv4 address. */
export function isHost(text: string): boolean {
  if (isIP(text.replace(/^\[(.*)\]$/, '$1')) !== 0) return true;
  return HOSTNAME.test(text) && !/^[\d.]+$/.test(text);
}

export interface HostPort {
  /** Without brackets. */
  host: string;
  /** Null when none was written. */
  port: number | null;
  /** 4 or 6 for an address, 0 for a name. */
  family: 0 | 4 | 6;
}

/** `host`, `host:port`, `[v6]` or `[v6]:port`; undefined when it is anything else (a path, a user, a bad port). */
export function parseHostPort(text: string): HostPort | undefined {
  const m = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(text.trim());
  if (!m) return undefined;
  const host = m[1]!.replace(/^\[(.*)\]$/, '$1');
  const family = isIP(host) as 0 | 4 | 6;
  // Brackets are for IPv6 only; a bare name must be a name.
  if (m[1]!.startsWith('[') ? family !== 6 : family === 6 || !isHost(host)) return undefined;
  const port = m[2] === undefined ? null : Number(m[2]);
  if (port !== null && (port < 1 || port > 65535)) return undefined;
  return { host, port, family };
}
