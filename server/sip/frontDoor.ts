/**
 * The cluster's front door (Kamailio, deploy/kamailio/sipswitch.cfg) forwards every request from
 * its own address and says where it really came from in X-Sipswitch-Source. From a front door
 * listed in SIP_FRONT_DOORS (and only from one: the proxy removes the header from whatever
 * arrives), that address is the request's source for everything that is about the caller — rate
 * limits, bans, nonces, stranger budgets, where a phone registered from — while responses still go
 * back to the front door. Requests to a phone registered through it go along its Path, to the
 * first hop of the Path (the front door), never straight to the phone.
 */
import { isIP } from 'node:net';
import { parseUri, type SipRequest } from './message.ts';
import type { AnyPeer, Peer } from './connection.ts';

const SOURCE = /^(\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d{1,5})(?:;\w+)?$/;

/** The listed front doors (`host:port`, as their requests arrive). */
export class FrontDoors {
  private readonly doors: Set<string>;

  constructor(addresses: readonly string[]) {
    this.doors = new Set(addresses);
  }

  /** Where a request really came from: the front door's word for it, or the sender itself. */
  originOf<P extends AnyPeer>(req: SipRequest, sender: P): P {
    if (!this.doors.has(`${sender.address}:${sender.port}`)) return sender;
    const said = req.headers['x-sipswitch-source'];
    const m = typeof said === 'string' ? SOURCE.exec(said.trim()) : null;
    if (!m) return sender;
    const address = m[1]!.replace(/^\[|\]$/g, '');
    const port = Number(m[2]);
    if (!isIP(address) || port < 1 || port > 65535) return sender;
    // The transport stays the front door's: it is the leg this node has.
    return { ...sender, address, port };
  }
}

/** The first hop of a Path (RFC 3327): where requests to a phone registered through it go. */
export function pathHop(path: readonly string[]): Peer | undefined {
  const first = path[0] ? parseUri(path[0]) : undefined;
  if (!first) return undefined;
  const address = first.host.replace(/^\[|\]$/g, '');
  if (!isIP(address)) return undefined;
  return { transport: first.params.transport?.toLowerCase() === 'tcp' ? 'tcp' : 'udp', address, port: first.port || 5060 };
}
