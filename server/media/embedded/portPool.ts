/**
 * RTP/RTCP port pairs (even port for RTP, the next one for RTCP) from a configured range, bound
 * as UDP sockets on the relay's address. A port another program holds is skipped. Pairs are
 * handed out round-robin, so a port just freed is not reused at once (a late packet of the old
 * call must not reach a new one).
 */
import dgram from 'node:dgram';
import { MediaRequestError } from '../engine.ts';

export interface PortPair {
  port: number;
  rtp: dgram.Socket;
  rtcp: dgram.Socket;
}

/**
 * Sends go to addresses from SDP or latched sources, always IP literals: no resolver round trip
 * (dgram would defer every send by a tick to ask it), and a name in SDP is never looked up.
 */
const ipLiteralOnly = (address: string, _family: unknown, callback: (err: Error | null, address: string, family: number) => void) => callback(null, address, 4);

export class PortsExhaustedError extends MediaRequestError {}

function bind(socket: dgram.Socket, port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const onError = () => resolve(false);
    socket.once('error', onError);
    socket.bind({ port, address: host, exclusive: true }, () => {
      socket.off('error', onError);
      resolve(true);
    });
  });
}

export class PortPool {
  private readonly first: number;
  private readonly pairs: number;
  private next = 0;
  private readonly inUse = new Set<number>();

  constructor(
    private readonly host: string,
    min: number,
    max: number,
  ) {
    this.first = min % 2 === 0 ? min : min + 1;
    this.pairs = Math.floor((max - this.first + 1) / 2);
    if (this.pairs < 1) throw new Error(`media port range ${min}-${max} holds no RTP/RTCP pair`);
  }

  get size(): number {
    return this.pairs;
  }

  get used(): number {
    return this.inUse.size;
  }

  async take(): Promise<PortPair> {
    for (let tried = 0; tried < this.pairs; tried++) {
      const port = this.first + 2 * this.next;
      this.next = (this.next + 1) % this.pairs;
      if (this.inUse.has(port)) continue;
      const pair = await this.bindPair(port);
      if (pair) return pair;
    }
    throw new PortsExhaustedError(`no free media port pair left in ${this.first}-${this.first + 2 * this.pairs - 1} on ${this.host}`);
  }

  /** The pair at `port` again (a call a previous run relayed keeps its ports); fails if another holds it. */
  async takeExact(port: number): Promise<PortPair> {
    const index = (port - this.first) / 2;
    if (!Number.isInteger(index) || index < 0 || index >= this.pairs)
      throw new MediaRequestError(`media port ${port} is not an RTP port of ${this.first}-${this.first + 2 * this.pairs - 1}`);
    if (this.inUse.has(port)) throw new MediaRequestError(`media port ${port} is in use`);
    const pair = await this.bindPair(port);
    if (pair) return pair;
    throw new MediaRequestError(`media ports ${port}-${port + 1} on ${this.host} are held by another program`);
  }

  /** Binds RTP at `port` and RTCP above it, marked in use; undefined (nothing held) when another program has either. */
  private async bindPair(port: number): Promise<PortPair | undefined> {
    this.inUse.add(port);
    const rtp = dgram.createSocket({ type: 'udp4', lookup: ipLiteralOnly as never });
    const rtcp = dgram.createSocket({ type: 'udp4', lookup: ipLiteralOnly as never });
    if ((await bind(rtp, port, this.host)) && (await bind(rtcp, port + 1, this.host))) return { port, rtp, rtcp };
    closeQuietly(rtp);
    closeQuietly(rtcp);
    this.inUse.delete(port);
    return undefined;
  }

  give(pair: PortPair): void {
    closeQuietly(pair.rtp);
    closeQuietly(pair.rtcp);
    this.inUse.delete(pair.port);
  }
}

function closeQuietly(socket: dgram.Socket): void {
  try {
    socket.close();
  } catch {
    /* never bound, or closed already */
  }
}
