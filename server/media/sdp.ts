/**
 * The little of SDP (RFC 4566, 3264) the relay needs: each media section's address, port, payload
 * types and direction, and a rewrite that puts the relay's address and ports in place of a phone's.
 * Lines it does not understand are kept as they are.
 */
import { isIPv4 } from 'node:net';
import { MediaRequestError } from './engine.ts';

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
const DIRECTIONS = new Set<string>(['sendrecv', 'sendonly', 'recvonly', 'inactive']);

export interface MediaSection {
  type: string;
  port: number;
  proto: string;
  formats: string[];
  /** The connection address in force for this section (its own c=, else the session's). */
  address: string;
  direction: Direction;
  /** Payload type → `encoding/clock` from a=rtpmap (static types 0 and 8 filled in). */
  rtpmap: Map<number, { encoding: string; clockRate: number }>;
  rtcpMux: boolean;
  /** From a=rtcp (RFC 3605); RTCP goes to port + 1 without it. */
  rtcpPort?: number;
}

export interface ParsedSdp {
  media: MediaSection[];
}

/** The biggest SDP accepted: SIP bodies are capped well below this. */
const MAX_SDP_BYTES = 16 * 1024;

const STATIC_TYPES: Record<number, { encoding: string; clockRate: number }> = {
  0: { encoding: 'PCMU', clockRate: 8000 },
  8: { encoding: 'PCMA', clockRate: 8000 },
  9: { encoding: 'G722', clockRate: 8000 },
  18: { encoding: 'G729', clockRate: 8000 },
};

function lines(sdp: string): string[] {
  if (sdp.length > MAX_SDP_BYTES) throw new MediaRequestError(`SDP of ${sdp.length} bytes is too long`);
  return sdp.split(/\r?\n/).filter((l) => l !== '');
}

function connectionAddress(line: string): string {
  const m = /^c=IN IP[46] ([^\s/]+)/.exec(line);
  if (!m) throw new MediaRequestError(`unreadable connection line "${line.slice(0, 80)}"`);
  return m[1]!;
}

export function parseSdp(sdp: string): ParsedSdp {
  let sessionAddress: string | undefined;
  let sessionDirection: Direction = 'sendrecv';
  const media: MediaSection[] = [];
  let current: (MediaSection & { ownAddress?: string; ownDirection?: Direction }) | undefined;
  for (const line of lines(sdp)) {
    if (line.startsWith('m=')) {
      const m = /^m=(\S+) (\d+)(?:\/\d+)? (\S+)((?: \S+)*)$/.exec(line);
      if (!m) throw new MediaRequestError(`unreadable media line "${line.slice(0, 80)}"`);
      const port = Number(m[2]);
      if (port > 65535) throw new MediaRequestError(`media port ${port} out of range`);
      current = { type: m[1]!, port, proto: m[3]!, formats: m[4]!.trim().split(' ').filter(Boolean), address: '', direction: 'sendrecv', rtpmap: new Map(), rtcpMux: false };
      for (const f of current.formats) {
        const st = STATIC_TYPES[Number(f)];
        if (st && /^\d+$/.test(f)) current.rtpmap.set(Number(f), st);
      }
      media.push(current);
    } else if (line.startsWith('c=')) {
      if (current) current.ownAddress = connectionAddress(line);
      else sessionAddress = connectionAddress(line);
    } else if (line.startsWith('a=')) {
      const attr = line.slice(2);
      if (DIRECTIONS.has(attr)) {
        if (current) current.ownDirection = attr as Direction;
        else sessionDirection = attr as Direction;
      } else if (current && attr === 'rtcp-mux') {
        current.rtcpMux = true;
      } else if (current && attr.startsWith('rtcp:')) {
        const port = Number(/^rtcp:(\d+)/.exec(attr)?.[1]);
        if (port > 0 && port <= 65535) current.rtcpPort = port;
      } else if (current && attr.startsWith('rtpmap:')) {
        const r = /^rtpmap:(\d+) ([^/\s]+)\/(\d+)/.exec(attr);
        if (r) current.rtpmap.set(Number(r[1]), { encoding: r[2]!, clockRate: Number(r[3]) });
      }
    }
  }
  for (const m of media as Array<MediaSection & { ownAddress?: string; ownDirection?: Direction }>) {
    const address = m.ownAddress ?? sessionAddress;
    if (!address && m.port !== 0) throw new MediaRequestError('SDP has a media section without a connection address');
    m.address = address ?? '0.0.0.0';
    m.direction = m.ownDirection ?? sessionDirection;
    delete m.ownAddress;
    delete m.ownDirection;
  }
  return { media };
}

/** The first audio section that is not refused (port 0): the stream the relay carries. */
export function audioSection(sdp: ParsedSdp): { index: number; section: MediaSection } | undefined {
  const index = sdp.media.findIndex((m) => m.type === 'audio' && m.port !== 0);
  return index < 0 ? undefined : { index, section: sdp.media[index]! };
}

/** Whether a phone that sent this section is expected to send RTP (not on hold, not refused). */
export function sends(section: MediaSection): boolean {
  return section.port !== 0 && section.address !== '0.0.0.0' && (section.direction === 'sendrecv' || section.direction === 'sendonly');
}

/** ICE and candidate lines: a phone told of its peer's own candidates would bypass the relay. */
const DROPPED_ATTRIBUTES = /^a=(candidate|remote-candidates|ice-ufrag|ice-pwd|ice-options|ice-lite|ice-mismatch|end-of-candidates)(:|$)/;

/**
 * The SDP with the relay in place of the phone: the origin and connection addresses become
 * `address` (in every section), the carried section's port becomes `port` (RTCP `port + 1` unless muxed), every other
 * media section is refused (port 0), and ICE lines go.
 */
export function rewriteSdp(sdp: string, carried: number, address: string, port: number): string {
  if (!isIPv4(address)) throw new MediaRequestError(`relay address ${address} is not IPv4`);
  const out: string[] = [];
  let index = -1;
  for (const line of lines(sdp)) {
    if (line.startsWith('m=')) {
      index++;
      const m = /^m=(\S+) (\d+)((?:\/\d+)? .*)$/.exec(line)!;
      out.push(`m=${m[1]} ${index === carried ? port : 0}${m[3]}`, `c=IN IP4 ${address}`);
      continue;
    }
    if (line.startsWith('o=')) {
      out.push(line.replace(/IN IP[46] \S+$/, `IN IP4 ${address}`));
      continue;
    }
    if (line.startsWith('c=')) {
      // The session's own c= line stays (rewritten); a section's is replaced by the one written above.
      if (index < 0) out.push(`c=IN IP4 ${address}`);
      continue;
    }
    if (DROPPED_ATTRIBUTES.test(line)) continue;
    if (line.startsWith('a=rtcp:')) {
      if (index === carried) out.push(`a=rtcp:${port + 1}`);
      continue;
    }
    out.push(line);
  }
  return `${out.join('\r\n')}\r\n`;
}
