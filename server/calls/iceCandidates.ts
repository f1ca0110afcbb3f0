/**
 * Which ICE candidates of a browser's SDP reach the media engine (issue 18). A browser lists a host
 * candidate on every interface of its machine (private, ULA, link-local addresses); the relay would
 * send ICE checks to each of them, probing the switch's own network on a browser's say-so. So a
 * WebSocket leg's SDP keeps only the candidates whose address `ICE_CANDIDATE_ALLOW` allows (CIDRs;
 * by default the public addresses: every private, shared, loopback, link-local and ULA range is
 * out). Candidates named by host name (mDNS `.local`) are dropped too: there is nothing to check.
 * A connection line naming an address taken out is pointed at the first candidate kept; every other
 * line passes untouched.
 */
import { BlockList, isIP } from 'node:net';

/** Not public: what the default leaves out. */
export const NON_PUBLIC_RANGES = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '224.0.0.0/4',
  '240.0.0.0/4',
  '::/128',
  '::1/128',
  'fc00::/7',
  'fe80::/10',
  'ff00::/8',
] as const;

/** Parses `a/b` CIDRs; a bare address counts as one host. Throws on anything else. */
function addCidrs(list: BlockList, cidrs: readonly string[]): void {
  for (const raw of cidrs) {
    const [address = '', bits] = raw.trim().split('/');
    const family = isIP(address);
    if (!family) throw new Error(`${raw} is no CIDR`);
    const max = family === 4 ? 32 : 128;
    const prefix = bits === undefined ? max : Number(bits);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (bits !== undefined && !/^\d+$/.test(bits))) throw new Error(`${raw} is no CIDR`);
    list.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
  }
}

/** Checks a comma-separated CIDR list (for the configuration); the message says what is wrong. */
export function cidrProblem(text: string): string | undefined {
  try {
    addCidrs(new BlockList(), splitCidrs(text));
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

export function splitCidrs(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export type IceCandidateFilter = (sdp: string) => string;

/**
 * A filter keeping the candidates whose address `allow` lists (CIDRs); `allow` null: public
 * addresses only (not in NON_PUBLIC_RANGES).
 */
export function iceCandidateFilter(allow: readonly string[] | null): IceCandidateFilter {
  const listed = new BlockList();
  addCidrs(listed, allow ?? NON_PUBLIC_RANGES);
  const allowed = (address: string): boolean => {
    const family = isIP(address);
    if (!family) return false;
    const hit = listed.check(address, family === 4 ? 'ipv4' : 'ipv6');
    return allow ? hit : !hit;
  };
  return (sdp) => {
    const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
    const lines = sdp.split(eol).filter((line) => {
      if (!/^a=candidate:/i.test(line)) return true;
      // a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ …
      const address = line.split(' ')[4];
      return address !== undefined && allowed(address);
    });
    // The connection line names the default candidate: when that one is gone, the first one kept
    // (its address and port) stands in, so nothing is sent to the address taken out either.
    const sections: number[][] = [[]];
    lines.forEach((line, i) => (line.startsWith('m=') ? sections.push([i]) : sections.at(-1)!.push(i)));
    const firstKept = (indexes: number[]): { address: string; port: string } | undefined => {
      for (const i of indexes) {
        const f = lines[i]!.split(' ');
        if (/^a=candidate:/i.test(lines[i]!) && f[1] === '1') return { address: f[4]!, port: f[5]! };
      }
      return undefined;
    };
    const fix = (indexes: number[], kept: { address: string; port: string } | undefined): void => {
      if (!kept) return;
      for (const i of indexes) {
        const c = /^c=IN (IP[46]) (\S+)$/.exec(lines[i]!);
        if (c && !allowed(c[2]!)) {
          lines[i] = `c=IN ${isIP(kept.address) === 6 ? 'IP6' : 'IP4'} ${kept.address}`;
          const m = indexes[0]!;
          if (lines[m]!.startsWith('m=')) lines[m] = lines[m]!.replace(/^(m=\S+ )\d+/, `$1${kept.port}`);
        }
      }
    };
    fix(sections[0]!, firstKept(sections.flat()));
    for (const section of sections.slice(1)) fix(section, firstKept(section));
    return lines.join(eol);
  };
}
