/**
 * Which ICE candidates of a browser's SDP reach the media engine (issue 18). A browser lists a host
 * candidate on every interface of its machine (private, ULA, link-local addresses); the relay would
 * send ICE checks to each of them, probing the switch's own network on a browser's say-so. So a
 * WebSocket leg's SDP keeps only the candidates whose address `ICE_CANDIDATE_ALLOW` allows (CIDRs;
 * by default the public addresses: the ranges a tenant may not send SIP to either, the
 * DestinationPolicy's defaults — private, shared, loopback, link-local, ULA, multicast — are out). Candidates named by host name (mDNS `.local`) are dropped too: there is nothing to check.
 * A connection line naming an address taken out is pointed at the first candidate kept; every other
 * line passes untouched.
 */
import { isIP } from 'node:net';
import { DEFAULT_DENIED_DESTINATIONS, DestinationPolicy } from '../sip/destinationPolicy.ts';

export type IceCandidateFilter = (sdp: string) => string;

/**
 * A filter keeping the candidates whose address `allow` lists (CIDRs); `allow` null: public
 * addresses only.
 */
export function iceCandidateFilter(allow: readonly string[] | null): IceCandidateFilter {
  const policy = allow ? new DestinationPolicy(['0.0.0.0/0', '::/0'], allow) : new DestinationPolicy(DEFAULT_DENIED_DESTINATIONS);
  const allowed = (address: string): boolean => policy.allows(address);
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
