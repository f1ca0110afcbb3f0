/**
 * A minimal SIP user agent for tests, written independently of the switch's own SIP code: it
 * builds requests as text, parses responses with its own small parser and computes digests itself.
 */
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import WebSocket from 'ws';

export type PhoneTransport = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

/** How a TLS or WebSocket phone connects: SNI name, trusted CA (else any certificate), Origin header. */
export interface ConnectOptions {
  servername?: string;
  ca?: string;
  origin?: string;
  /** WebSocket subprotocols offered (default `sip`). */
  protocols?: string[];
}

export interface SipReply {
  status: number;
  reason: string;
  headers: Map<string, string[]>;
  body: string;
  raw: string;
  header(name: string): string | undefined;
}

export function parseReply(raw: string): SipReply | undefined {
  const [head = '', body = ''] = raw.split('\r\n\r\n', 2);
  const lines = head.split('\r\n');
  const m = /^SIP\/2\.0 (\d{3}) (.*)$/.exec(lines[0] ?? '');
  if (!m) return undefined;
  const headers = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(i + 1).trim()]);
  }
  return { status: Number(m[1]), reason: m[2]!, headers, body, raw, header: (n) => headers.get(n.toLowerCase())?.[0] };
}

/** Reads `key=value` / `key="value"` pairs of a challenge. */
export function challengeParams(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of value.replace(/^Digest\s+/i, '').matchAll(/(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))/g)) {
    out[m[1]!.toLowerCase()] = m[2] ?? m[3]!;
  }
  return out;
}

const H = (alg: string, s: string) =>
  createHash(alg === 'SHA-256' ? 'sha256' : 'md5')
    .update(s)
    .digest('hex');

export function digestAuthorization(o: {
  challenge: Record<string, string>;
  username: string;
  password: string;
  method: string;
  uri: string;
  nc?: number;
  cnonce?: string;
}): string {
  const alg = (o.challenge.algorithm ?? 'MD5').toUpperCase();
  const nc = (o.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = o.cnonce ?? randomBytes(6).toString('hex');
  const ha1 = H(alg, `${o.username}:${o.challenge.realm}:${o.password}`);
  const ha2 = H(alg, `${o.method}:${o.uri}`);
  const response = H(alg, `${ha1}:${o.challenge.nonce}:${nc}:${cnonce}:auth:${ha2}`);
  return `Digest username="${o.username}", realm="${o.challenge.realm}", nonce="${o.challenge.nonce}", uri="${o.uri}", response="${response}", algorithm=${alg}, qop=auth, nc=${nc}, cnonce="${cnonce}"`;
}

export interface RequestOptions {
  method: string;
  uri?: string;
  to?: string;
  from?: string;
  callId?: string;
  cseq?: number;
  headers?: string[];
  body?: string;
  branch?: string;
}

export class TestPhone {
  private udp?: dgram.Socket;
  private tcp?: net.Socket;
  private ws?: WebSocket;
  private tcpBuffer = '';
  private readonly waiting: Array<(raw: string) => boolean> = [];
  readonly received: string[] = [];
  localPort = 0;
  localAddress = '127.0.0.1';
  private cseq = 1;
  readonly callId = `${randomBytes(8).toString('hex')}@test`;
  readonly fromTag = randomBytes(4).toString('hex');

  private constructor(
    readonly transport: PhoneTransport,
    readonly serverPort: number,
  ) {}

  /**
   * `localAddress`: another loopback address (127.0.0.2, …) to play a second source. TLS and
   * WebSocket phones connect to `serverPort` (the TLS port, the HTTP or HTTPS port's `/sip`).
   */
  static async open(transport: PhoneTransport, serverPort: number, localAddress = '127.0.0.1', o: ConnectOptions = {}): Promise<TestPhone> {
    const p = new TestPhone(transport, serverPort);
    p.localAddress = localAddress;
    if (transport === 'ws' || transport === 'wss') {
      const ws = new WebSocket(`${transport}://127.0.0.1:${serverPort}/sip`, o.protocols ?? ['sip'], {
        localAddress,
        ...(o.origin ? { origin: o.origin } : {}),
        ...(o.ca ? { ca: o.ca } : { rejectUnauthorized: false }),
      });
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
        ws.once('unexpected-response', (_req, res) => reject(new Error(`WebSocket refused: ${res.statusCode} ${res.statusMessage}`)));
      });
      ws.on('error', () => {});
      ws.on('message', (d: Buffer) => p.deliver(d.toString('utf8')));
      p.ws = ws;
      p.localPort = (ws as unknown as { _socket: net.Socket })._socket.localPort!;
      return p;
    }
    if (transport === 'tls') {
      const raw = net.connect({ host: '127.0.0.1', port: serverPort, localAddress });
      const s = tls.connect({ socket: raw, servername: o.servername ?? 'localhost', ...(o.ca ? { ca: o.ca } : { rejectUnauthorized: false }) });
      await new Promise<void>((resolve, reject) => {
        s.once('secureConnect', () => resolve());
        s.once('error', reject);
      });
      s.on('error', () => {});
      s.on('data', (d) => p.onTcpData(d.toString('utf8')));
      p.tcp = s;
      p.localPort = s.localPort!;
      return p;
    }
    if (transport === 'udp') {
      const s = dgram.createSocket('udp4');
      await new Promise<void>((r) => s.bind(0, localAddress, () => r()));
      s.on('message', (buf) => p.deliver(buf.toString('utf8')));
      p.udp = s;
      p.localPort = s.address().port;
    } else {
      const s = net.connect({ host: '127.0.0.1', port: serverPort, localAddress });
      await new Promise<void>((resolve, reject) => {
        s.once('connect', () => resolve());
        s.once('error', reject);
      });
      s.on('error', () => {});
      s.on('data', (d) => p.onTcpData(d.toString('utf8')));
      p.tcp = s;
      p.localPort = s.localPort!;
    }
    return p;
  }

  /** The connection's socket (TCP or TLS). */
  get tcpSocket(): net.Socket | undefined {
    return this.tcp;
  }

  get webSocket(): WebSocket | undefined {
    return this.ws;
  }

  private onTcpData(chunk: string): void {
    this.tcpBuffer += chunk;
    for (;;) {
      this.tcpBuffer = this.tcpBuffer.replace(/^(\r\n)+/, '');
      const end = this.tcpBuffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = Number(/content-length:\s*(\d+)/i.exec(this.tcpBuffer.slice(0, end))?.[1] ?? 0);
      if (this.tcpBuffer.length < end + 4 + len) return;
      this.deliver(this.tcpBuffer.slice(0, end + 4 + len));
      this.tcpBuffer = this.tcpBuffer.slice(end + 4 + len);
    }
  }

  private deliver(raw: string): void {
    this.received.push(raw);
    const i = this.waiting.findIndex((w) => w(raw));
    if (i >= 0) this.waiting.splice(i, 1);
  }

  sendRaw(data: string | Buffer): void {
    if (this.udp) this.udp.send(typeof data === 'string' ? Buffer.from(data) : data, this.serverPort, '127.0.0.1');
    else if (this.ws) this.ws.send(data);
    else this.tcp!.write(data);
  }

  /** Resolves with the first message (already received or arriving) that matches, or rejects on timeout. */
  waitFor(match: (raw: string) => boolean, timeoutMs = 3000, from = 0): Promise<string> {
    const seen = this.received.slice(from).find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        const i = this.waiting.indexOf(w);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new Error(`no matching SIP message within ${timeoutMs} ms; received:\n${this.received.slice(-3).join('\n---\n')}`));
      }, timeoutMs);
      const w = (raw: string) => {
        if (!match(raw)) return false;
        clearTimeout(t);
        resolve(raw);
        return true;
      };
      this.waiting.push(w);
    });
  }

  /** Silence check: true if nothing matching arrives within `ms`. */
  async quiet(match: (raw: string) => boolean, ms: number): Promise<boolean> {
    const from = this.received.length;
    return this.waitFor(match, ms, from).then(
      () => false,
      () => true,
    );
  }

  build(o: RequestOptions): { text: string; branch: string; cseq: number } {
    const branch = o.branch ?? `z9hG4bK${randomBytes(6).toString('hex')}`;
    const cseq = o.cseq ?? this.cseq++;
    const uri = o.uri ?? `sip:127.0.0.1:${this.serverPort}`;
    const proto = this.transport.toUpperCase();
    const body = o.body ?? '';
    const lines = [
      `${o.method} ${uri} SIP/2.0`,
      `Via: SIP/2.0/${proto} ${this.localAddress}:${this.localPort};branch=${branch};rport`,
      `Max-Forwards: 70`,
      `From: <${o.from ?? 'sip:anonymous@127.0.0.1'}>;tag=${this.fromTag}`,
      `To: <${o.to ?? 'sip:anonymous@127.0.0.1'}>`,
      `Call-ID: ${o.callId ?? this.callId}`,
      `CSeq: ${cseq} ${o.method}`,
      ...(o.headers ?? []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ];
    return { text: lines.join('\r\n'), branch, cseq };
  }

  /** Sends a request and waits for its final response (provisional ones are skipped). */
  async request(o: RequestOptions, timeoutMs = 3000): Promise<SipReply> {
    const { text, branch } = this.build(o);
    const from = this.received.length;
    this.sendRaw(text);
    const raw = await this.waitFor((r) => r.includes(branch) && !/^SIP\/2\.0 1\d\d/.test(r), timeoutMs, from);
    return parseReply(raw)!;
  }

  /** REGISTER with digest authentication: the challenge round trip, then the authenticated request. */
  async register(o: {
    user: string;
    password: string;
    expires?: number;
    contact?: string;
    extraHeaders?: string[];
    pickAlgorithm?: (offered: string[]) => string;
  }): Promise<{ challenge: SipReply; final: SipReply }> {
    const aor = `sip:${o.user}@127.0.0.1`;
    const contact = o.contact ?? `<sip:${o.user}@127.0.0.1:${this.localPort};transport=${this.transport}>`;
    const base = {
      method: 'REGISTER',
      to: aor,
      from: aor,
      headers: [`Contact: ${contact}`, ...(o.expires !== undefined ? [`Expires: ${o.expires}`] : []), ...(o.extraHeaders ?? [])],
    };
    const challenge = await this.request(base);
    if (challenge.status !== 401) return { challenge, final: challenge };
    const offers = challenge.headers.get('www-authenticate') ?? [];
    const algs = offers.map((c) => (challengeParams(c).algorithm ?? 'MD5').toUpperCase());
    const chosen = o.pickAlgorithm ? o.pickAlgorithm(algs) : algs[0]!;
    const params = challengeParams(offers[algs.indexOf(chosen)]!);
    const uri = `sip:127.0.0.1:${this.serverPort}`;
    const auth = digestAuthorization({ challenge: params, username: o.user, password: o.password, method: 'REGISTER', uri });
    const final = await this.request({ ...base, headers: [...base.headers, `Authorization: ${auth}`] });
    return { challenge, final };
  }

  /** Answers a request this phone received (raw text), echoing Via, From, Call-ID and CSeq. */
  reply(raw: string, status: number, reason: string, extra: string[] = [], body = ''): void {
    const head = raw.split('\r\n\r\n')[0]!.split('\r\n');
    const keep = head.filter((l) => /^(via|from|call-id|cseq):/i.test(l));
    const to = head.find((l) => /^to:/i.test(l))!;
    this.sendRaw(
      [
        `SIP/2.0 ${status} ${reason}`,
        ...keep,
        /;tag=/.test(to) ? to : `${to};tag=${this.fromTag}`,
        `Contact: <sip:phone@127.0.0.1:${this.localPort}>`,
        ...extra,
        `Content-Length: ${Buffer.byteLength(body)}`,
        '',
        body,
      ].join('\r\n'),
    );
  }

  close(): void {
    this.udp?.close();
    this.tcp?.destroy();
    this.ws?.terminate();
  }
}
