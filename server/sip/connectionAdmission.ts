/**
 * Which stream connections a node takes: none from a banned address, at most `perSource` open from
 * one address, at most `total` open in all (those we open ourselves count too). It is asked where
 * connections are admitted, whatever carries them: TCP today, TLS and WebSocket through the same
 * door, so a stranger cannot hold more of them by switching transports.
 */
export type ConnectionRefusal = 'banned-source' | 'source-limit' | 'limit';

export interface ConnectionLimits {
  perSource: number;
  total: number;
}

/** Call once when the connection closes; calling again does nothing. */
export type Release = () => void;

export class ConnectionAdmission {
  private readonly bySource = new Map<string, number>();
  private open = 0;

  constructor(
    private readonly limits: ConnectionLimits,
    /** False for addresses whose connections are refused outright (bans). */
    private readonly admitSource: (address: string) => boolean,
  ) {}

  /** A connection a peer opened to us. */
  inbound(address: string): Release | ConnectionRefusal {
    if (!this.admitSource(address)) return 'banned-source';
    const held = this.bySource.get(address) ?? 0;
    if (held >= this.limits.perSource) return 'source-limit';
    if (this.open >= this.limits.total) return 'limit';
    this.bySource.set(address, held + 1);
    this.open++;
    return this.release(address);
  }

  /** A connection we open to a peer (a provider, a phone whose connection closed). */
  outbound(): Release | 'limit' {
    if (this.open >= this.limits.total) return 'limit';
    this.open++;
    return this.release(undefined);
  }

  get size(): number {
    return this.open;
  }

  private release(address: string | undefined): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.open--;
      if (address === undefined) return;
      const held = (this.bySource.get(address) ?? 1) - 1;
      if (held > 0) this.bySource.set(address, held);
      else this.bySource.delete(address);
    };
  }
}
