/**
 * A real DNS server on 127.0.0.1 (UDP) for tests, whose zone a test changes while it runs. Per
 * name and record type it answers records, NXDOMAIN, SERVFAIL, REFUSED, or nothing at all (the
 * client times out). A type with no answer set gets NOERROR and no records if the name has records
 * of another type, else NXDOMAIN, the way a real zone behaves. Node's resolver only switches to TCP
 * for truncated answers, which these small answers never are, so UDP alone is served.
 */
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';

export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

export interface NaptrRecord {
  order: number;
  preference: number;
  flags: string;
  services: string;
  regexp: string;
  replacement: string;
}

interface RecordData {
  A: string;
  AAAA: string;
  SRV: SrvRecord;
  NAPTR: NaptrRecord;
}

export type ServedType = keyof RecordData;
export type DnsFailure = 'nxdomain' | 'servfail' | 'refused' | 'drop';

const RCODE = { noerror: 0, servfail: 2, nxdomain: 3, refused: 5 } as const;

export interface TestDnsServer {
  /** `127.0.0.1:port`, as `Resolver.setServers` takes it. */
  address: string;
  /** What the server answers for `name`/`type` from now on; `ttl` is the records' TTL (s). */
  set<T extends ServedType>(name: string, type: T, answer: Array<RecordData[T]> | DnsFailure, ttl?: number): void;
  /** Queries received for `name`/`type` since the server started. */
  queries(name: string, type: ServedType): number;
  close(): Promise<void>;
}

type Answer = { records: Array<RecordData[ServedType]>; ttl: number } | DnsFailure;

const key = (name: string, type: string) => `${name.toLowerCase().replace(/\.$/, '')} ${type}`;

export async function startDnsServer(): Promise<TestDnsServer> {
  const zone = new Map<string, Answer>();
  const counts = new Map<string, number>();
  const socket = dgram.createSocket('udp4');

  const nameExists = (name: string) => {
    const prefix = key(name, '');
    for (const [k, a] of zone) if (k.startsWith(prefix) && typeof a !== 'string') return true;
    return false;
  };

  socket.on('message', (msg, rinfo) => {
    let query: dnsPacket.DecodedPacket;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return;
    }
    const question = query.questions?.[0];
    if (!question) return;
    const k = key(question.name, question.type);
    counts.set(k, (counts.get(k) ?? 0) + 1);
    const answer = zone.get(k) ?? (nameExists(question.name) ? { records: [], ttl: 0 } : 'nxdomain');
    if (answer === 'drop') return;
    const rcode = typeof answer === 'string' ? RCODE[answer] : RCODE.noerror;
    const answers =
      typeof answer === 'string' ? [] : answer.records.map((data) => ({ name: question.name, type: question.type, class: 'IN', ttl: answer.ttl, data }) as dnsPacket.Answer);
    const reply = dnsPacket.encode({
      type: 'response',
      id: query.id,
      flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_AVAILABLE | ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | rcode,
      questions: [question],
      answers,
    });
    socket.send(reply, rinfo.port, rinfo.address);
  });

  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return {
    address: `127.0.0.1:${socket.address().port}`,
    set(name, type, answer, ttl = 300) {
      zone.set(key(name, type), typeof answer === 'string' ? answer : { records: answer, ttl });
    },
    queries: (name, type) => counts.get(key(name, type)) ?? 0,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}
