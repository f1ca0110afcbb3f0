/**
 * A SIP client over one stream (TCP, TLS or WebSocket) for the TLS bench: Debian's sipp has no TLS.
 * It registers `userN`/`pwN` with digest (REGISTER, 401, REGISTER with credentials, 200), places
 * calls (INVITE, 200, ACK, BYE, 200) and answers them, using the tests' own independent SIP text
 * and digest code.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import WebSocket from 'ws';
import { challengeParams, digestAuthorization, parseReply, type SipReply } from '../../test/helpers/sipPhone.ts';

export interface SipStream {
  send(text: string): void;
  /** The next complete message. */
  next(): Promise<string>;
  close(): void;
  localPort: number;
}

/** Frames a byte stream by Content-Length. */
function streamOf(socket: net.Socket, transport: string): SipStream {
  let buffer = '';
  const ready: string[] = [];
  const waiting: Array<(m: string) => void> = [];
  socket.on('data', (d) => {
    buffer += d.toString('utf8');
    for (;;) {
      buffer = buffer.replace(/^(\r\n)+/, '');
      const end = buffer.indexOf('\r\n\r\n');
      if (end < 0) break;
      const len = Number(/content-length:\s*(\d+)/i.exec(buffer.slice(0, end))?.[1] ?? 0);
      if (buffer.length < end + 4 + len) break;
      const m = buffer.slice(0, end + 4 + len);
      buffer = buffer.slice(end + 4 + len);
      const w = waiting.shift();
      if (w) w(m);
      else ready.push(m);
    }
  });
  return messages(
    transport,
    (t) => socket.write(t),
    () => socket.destroy(),
    socket.localPort!,
    ready,
    waiting,
    socket,
  );
}

function messages(
  _transport: string,
  write: (t: string) => void,
  close: () => void,
  localPort: number,
  ready: string[],
  waiting: Array<(m: string) => void>,
  ended: { once(e: 'close', f: () => void): unknown },
): SipStream {
  let closed = false;
  ended.once('close', () => {
    closed = true;
    for (const w of waiting.splice(0)) w('');
  });
  return {
    send: write,
    next: () => (ready.length ? Promise.resolve(ready.shift()!) : closed ? Promise.resolve('') : new Promise((r) => waiting.push(r))),
    close,
    localPort,
  };
}

/** A TLS connection, resuming `session` when given; `onSession` receives the ticket for the next one. */
export async function openTls(port: number, o: { session?: Buffer; onSession?: (s: Buffer) => void } = {}): Promise<{ stream: SipStream; resumed: boolean }> {
  const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, ...(o.session ? { session: o.session } : {}) });
  if (o.onSession) s.on('session', o.onSession);
  await new Promise<void>((resolve, reject) => {
    s.once('secureConnect', () => resolve());
    s.once('error', reject);
  });
  s.on('error', () => {});
  return { stream: streamOf(s, 'TLS'), resumed: s.isSessionReused() };
}

export async function openTcp(port: number): Promise<SipStream> {
  const s = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    s.once('connect', () => resolve());
    s.once('error', reject);
  });
  s.on('error', () => {});
  return streamOf(s, 'TCP');
}

export async function openWebSocket(port: number, localAddress = '127.0.0.1'): Promise<SipStream> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/sip`, ['sip'], { localAddress });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.on('error', () => {});
  const ready: string[] = [];
  const waiting: Array<(m: string) => void> = [];
  ws.on('message', (d: Buffer) => {
    const m = d.toString('utf8');
    const w = waiting.shift();
    if (w) w(m);
    else ready.push(m);
  });
  const socket = (ws as unknown as { _socket: net.Socket })._socket;
  return messages(
    'WS',
    (t) => ws.send(t),
    () => ws.terminate(),
    socket.localPort!,
    ready,
    waiting,
    ws,
  );
}

/** Registers `user<n>` over `stream`; resolves with the final reply (undefined if the stream ended). */
export type StreamTransport = 'TCP' | 'TLS' | 'WS';

export async function register(stream: SipStream, transport: StreamTransport, sipHostPort: string, n: number, expires = 3600): Promise<SipReply | undefined> {
  const user = `user${n}`;
  const callId = `${randomBytes(8).toString('hex')}@bench`;
  const tag = randomBytes(4).toString('hex');
  const build = (cseq: number, auth?: string) =>
    [
      `REGISTER sip:${sipHostPort} SIP/2.0`,
      `Via: SIP/2.0/${transport} 127.0.0.1:${stream.localPort};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
      'Max-Forwards: 70',
      `From: <sip:${user}@127.0.0.1>;tag=${tag}`,
      `To: <sip:${user}@127.0.0.1>`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} REGISTER`,
      `Contact: <sip:${user}@127.0.0.1:${stream.localPort};transport=${transport.toLowerCase()}>`,
      `Expires: ${expires}`,
      ...(auth ? [`Authorization: ${auth}`] : []),
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
  stream.send(build(1));
  const challenge = parseReply(await stream.next());
  if (!challenge || challenge.status !== 401) return challenge;
  const params = challengeParams(challenge.header('www-authenticate')!);
  stream.send(build(2, digestAuthorization({ challenge: params, username: user, password: `pw${n}`, method: 'REGISTER', uri: `sip:${sipHostPort}` })));
  return parseReply(await stream.next());
}

const SDP = (port: number) => `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n`;
const header = (m: string, name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(m)?.[1]?.trim();

/**
 * A call from a stranger to `sip:<to>@sipHostPort` over `stream`, hung up as soon as it is answered
 * (sipp's 0-hold call): INVITE, final response, ACK and BYE for a 2xx. Resolves with the INVITE's
 * final status (0 if the stream ended), after the BYE's response.
 */
export async function placeCall(stream: SipStream, transport: StreamTransport, sipHostPort: string, to: string): Promise<number> {
  const callId = `${randomBytes(8).toString('hex')}@call`;
  const tag = randomBytes(4).toString('hex');
  const from = `<sip:caller-${tag}@127.0.0.1>;tag=${tag}`;
  const via = () => `Via: SIP/2.0/${transport} 127.0.0.1:${stream.localPort};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`;
  const request = (method: string, uri: string, toHeader: string, cseq: number, body = '') =>
    [
      `${method} ${uri} SIP/2.0`,
      via(),
      'Max-Forwards: 70',
      `From: ${from}`,
      `To: ${toHeader}`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} ${method}`,
      `Contact: <sip:caller-${tag}@127.0.0.1:${stream.localPort};transport=${transport.toLowerCase()}>`,
      ...(body ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n');
  const uri = `sip:${to}@${sipHostPort};transport=${transport.toLowerCase()}`;
  stream.send(request('INVITE', uri, `<sip:${to}@127.0.0.1>`, 1, SDP(4000)));
  for (;;) {
    const m = await stream.next();
    if (!m) return 0;
    const reply = parseReply(m);
    if (!reply || reply.status < 200) continue;
    if (reply.status >= 300) {
      stream.send(request('ACK', uri, header(m, 'To')!, 1));
      return reply.status;
    }
    const target = /<([^>]+)>/.exec(header(m, 'Contact') ?? '')?.[1] ?? uri;
    const toTagged = header(m, 'To')!;
    stream.send(request('ACK', target, toTagged, 1));
    stream.send(request('BYE', target, toTagged, 2));
    for (;;) {
      const b = await stream.next();
      if (!b) return reply.status;
      if (/^SIP\/2\.0 \d+ /.test(b) && / BYE$/m.test(header(b, 'CSeq') ?? '')) return reply.status;
    }
  }
}

/**
 * A phone registered as `user` on `stream` that answers every INVITE at once (200 with SDP) and
 * every BYE with 200, until the stream ends; counts the calls it answered.
 */
export function answerCalls(stream: SipStream, transport: StreamTransport, user: string): { answered: () => number; done: Promise<void> } {
  let answered = 0;
  const tag = randomBytes(4).toString('hex');
  const reply = (m: string, status: string, extra: string[] = [], body = '') => {
    const keep = m
      .split('\r\n\r\n')[0]!
      .split('\r\n')
      .filter((l) => /^(via|from|call-id|cseq):/i.test(l));
    const to = header(m, 'To')!;
    stream.send([`SIP/2.0 ${status}`, ...keep, `To: ${/;tag=/.test(to) ? to : `${to};tag=${tag}`}`, ...extra, `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n'));
  };
  const done = (async () => {
    for (;;) {
      const m = await stream.next();
      if (!m) return;
      if (m.startsWith('INVITE ')) {
        reply(m, '200 OK', [`Contact: <sip:${user}@127.0.0.1:${stream.localPort};transport=${transport.toLowerCase()}>`, 'Content-Type: application/sdp'], SDP(5000));
        answered++;
      } else if (m.startsWith('BYE ')) reply(m, '200 OK');
    }
  })();
  return { answered: () => answered, done };
}
