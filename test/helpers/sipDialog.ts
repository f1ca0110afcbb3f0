/**
 * Dialogs played by hand over a TestPhone, for tests that must see (or send) every header:
 * placing a call and ACKing it, requests inside a dialog, answering what the switch sends.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { challengeParams, digestAuthorization, type TestPhone } from './sipPhone.ts';

export const sdp = (party: string) => `v=0\r\no=${party} 1 1 IN IP4 127.0.0.1\r\ns=${party}\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n`;
export const header = (raw: string, name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(raw)?.[1]?.trim();
export const tagOf = (value: string | undefined) => /;tag=([^;>\s]+)/.exec(value ?? '')?.[1];
export const uriOf = (value: string | undefined) => /<([^>]+)>/.exec(value ?? '')?.[1] ?? '';
export const isRequest = (method: string) => (raw: string) => raw.startsWith(`${method} `);
export const isFinalFor = (branch: string) => (raw: string) => raw.includes(branch) && /^SIP\/2\.0 [2-6]\d\d/.test(raw);
export const body = (raw: string) => raw.split('\r\n\r\n').slice(1).join('\r\n\r\n');

/** One dialog as a hand-played phone holds it. */
export interface Leg {
  callId: string;
  localTag: string;
  remoteTag: string;
  localUri: string;
  remoteUri: string;
  remoteTarget: string;
  cseq: number;
}

/** A request inside `leg` as text, with a fresh branch (an ACK carries no Contact). */
function inDialogRequest(phone: TestPhone, leg: Leg, method: string, cseq: number, extra: string[], content: string): { text: string; branch: string } {
  const branch = `z9hG4bK${randomBytes(6).toString('hex')}`;
  const text = [
    `${method} ${leg.remoteTarget} SIP/2.0`,
    `Via: SIP/2.0/${phone.transport.toUpperCase()} ${phone.localAddress}:${phone.localPort};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <${leg.localUri}>;tag=${leg.localTag}`,
    `To: <${leg.remoteUri}>;tag=${leg.remoteTag}`,
    `Call-ID: ${leg.callId}`,
    `CSeq: ${cseq} ${method}`,
    ...(method === 'ACK' ? [] : [`Contact: <sip:phone@${phone.localAddress}:${phone.localPort}>`]),
    ...extra,
    `Content-Length: ${Buffer.byteLength(content)}`,
    '',
    content,
  ].join('\r\n');
  return { text, branch };
}

/** Sends a request inside `leg` and waits for its final response. */
export async function inDialog(phone: TestPhone, leg: Leg, method: string, extra: string[] = [], content = ''): Promise<string> {
  const { text, branch } = inDialogRequest(phone, leg, method, ++leg.cseq, extra, content);
  const from = phone.received.length;
  phone.sendRaw(text);
  return phone.waitFor(isFinalFor(branch), 5000, from);
}

/** A stranger's call to `user`, answered and ACKed: A's side of the dialog. */
export async function place(phone: TestPhone, sipPort: number, user: string): Promise<Leg> {
  const callId = `${randomBytes(6).toString('hex')}@a`;
  const invite = phone.build({
    method: 'INVITE',
    uri: `sip:${user}@127.0.0.1:${sipPort}`,
    to: `sip:${user}@127.0.0.1`,
    from: 'sip:stranger@127.0.0.1',
    callId,
    headers: ['Content-Type: application/sdp'],
    body: sdp('alice'),
  });
  const from = phone.received.length;
  phone.sendRaw(invite.text);
  const ok = await phone.waitFor(isFinalFor(invite.branch), 10_000, from);
  assert.match(ok, /^SIP\/2\.0 200 /);
  const leg: Leg = {
    callId,
    localTag: phone.fromTag,
    remoteTag: tagOf(header(ok, 'To'))!,
    localUri: 'sip:stranger@127.0.0.1',
    remoteUri: `sip:${user}@127.0.0.1`,
    remoteTarget: uriOf(header(ok, 'Contact')),
    cseq: invite.cseq,
  };
  ack(phone, leg, invite.cseq);
  return leg;
}

/** The ACK for a 2xx to the INVITE with CSeq `cseq` in `leg`, carrying `sdpAnswer` if given. */
export function ack(phone: TestPhone, leg: Leg, cseq: number, sdpAnswer = ''): void {
  phone.sendRaw(inDialogRequest(phone, leg, 'ACK', cseq, sdpAnswer ? ['Content-Type: application/sdp'] : [], sdpAnswer).text);
}

/** C's side of a dialog it answered: its tag, the switch's, where to send in-dialog requests. */
export function answeredBy(phone: TestPhone, invite: string): Leg {
  return {
    callId: header(invite, 'Call-ID')!,
    localTag: phone.fromTag,
    remoteTag: tagOf(header(invite, 'From'))!,
    localUri: uriOf(header(invite, 'To')),
    remoteUri: uriOf(header(invite, 'From')),
    remoteTarget: uriOf(header(invite, 'Contact')),
    cseq: 0,
  };
}

/** Answers every NOTIFY and BYE the switch sends `phone` with 200, and keeps them. */
export function answering(phone: TestPhone): { notifies: string[]; byes: string[]; stop(): void } {
  const notifies: string[] = [];
  const byes: string[] = [];
  let seen = phone.received.length;
  const timer = setInterval(() => {
    for (const raw of phone.received.slice(seen)) {
      if (raw.startsWith('NOTIFY ')) notifies.push(raw);
      else if (raw.startsWith('BYE ')) byes.push(raw);
      else continue;
      phone.reply(raw, 200, 'OK');
    }
    seen = phone.received.length;
  }, 20);
  return { notifies, byes, stop: () => clearInterval(timer) };
}

/**
 * A phone that answers every INVITE it receives (180, then 200 with SDP), and every BYE, CANCEL
 * and NOTIFY with 200 (a CANCELled INVITE gets its 487). Keeps the INVITEs it saw, in order.
 */
export function autoAnswer(phone: TestPhone, party = 'callee', o: { ring?: boolean } = {}): { invites: string[]; stop(): void } {
  const invites: string[] = [];
  let seen = phone.received.length;
  const timer = setInterval(() => {
    for (const raw of phone.received.slice(seen)) {
      if (raw.startsWith('INVITE ')) {
        invites.push(raw);
        phone.reply(raw, 180, 'Ringing');
        if (!o.ring) phone.reply(raw, 200, 'OK', ['Content-Type: application/sdp'], sdp(party));
      } else if (raw.startsWith('CANCEL ')) {
        phone.reply(raw, 200, 'OK');
        const invite = invites.find((i) => header(i, 'Call-ID') === header(raw, 'Call-ID'));
        if (invite) phone.reply(invite, 487, 'Request Terminated');
      } else if (raw.startsWith('BYE ') || raw.startsWith('NOTIFY ')) phone.reply(raw, 200, 'OK');
    }
    seen = phone.received.length;
  }, 20);
  return { invites, stop: () => clearInterval(timer) };
}

/**
 * Sends an INVITE (no credentials) and resolves with its final response; `uri`/`to`/`from` as the
 * request should carry them. 1xx responses are skipped; an answered call is ACKed and hung up.
 */
export async function invite(
  phone: TestPhone,
  o: { uri: string; to?: string; from?: string; headers?: string[]; callId?: string; /** The From header exactly as written (a tag is added). */ fromHeader?: string },
  timeoutMs = 8000,
): Promise<string> {
  const callId = o.callId ?? `${randomBytes(6).toString('hex')}@inv`;
  const from = o.from ?? 'sip:stranger@127.0.0.1';
  const to = o.to ?? o.uri;
  const req = phone.build({
    method: 'INVITE',
    uri: o.uri,
    to,
    from,
    callId,
    headers: [`Contact: <sip:caller@${phone.localAddress}:${phone.localPort}>`, 'Content-Type: application/sdp', ...(o.headers ?? [])],
    body: sdp('caller'),
  });
  const text = o.fromHeader ? req.text.replace(/^From: .*$/m, () => `From: ${o.fromHeader};tag=${phone.fromTag}`) : req.text;
  const mark = phone.received.length;
  phone.sendRaw(text);
  const final = await phone.waitFor(isFinalFor(req.branch), timeoutMs, mark);
  if (/^SIP\/2\.0 2\d\d/.test(final)) {
    const localUri = o.fromHeader ? uriOf(o.fromHeader) : from;
    const leg: Leg = {
      callId,
      localTag: phone.fromTag,
      remoteTag: tagOf(header(final, 'To'))!,
      localUri,
      remoteUri: to,
      remoteTarget: uriOf(header(final, 'Contact')),
      cseq: req.cseq,
    };
    ack(phone, leg, req.cseq);
    await inDialog(phone, leg, 'BYE');
  }
  return final;
}

/**
 * A call placed by one of the tenant's phones: INVITE, the 407 challenge (ACKed), the INVITE again
 * with credentials; resolves with the caller's side of the answered, ACKed dialog.
 */
export async function placeAuthenticated(
  phone: TestPhone,
  sipPort: number,
  account: { username: string; password: string },
  target: string,
  /** The SDP offer (a browser's); a plain G.711 one without. */
  offer?: string,
): Promise<Leg & { answer: string }> {
  const callId = `${randomBytes(6).toString('hex')}@auth`;
  const localUri = `sip:${account.username}@127.0.0.1`;
  const uri = `sip:${target}@127.0.0.1:${sipPort}`;
  const send = (extra: string[]) => {
    const req = phone.build({
      method: 'INVITE',
      uri,
      to: `sip:${target}@127.0.0.1`,
      from: localUri,
      callId,
      headers: [
        `Contact: <sip:${account.username}@127.0.0.1:${phone.localPort}${phone.transport === 'udp' ? '' : `;transport=${phone.transport}`}>`,
        'Content-Type: application/sdp',
        ...extra,
      ],
      body: offer ?? sdp(account.username),
    });
    const from = phone.received.length;
    phone.sendRaw(req.text);
    return { req, final: phone.waitFor(isFinalFor(req.branch), 10_000, from) };
  };
  const first = send([]);
  const challenge = await first.final;
  assert.match(challenge, /^SIP\/2\.0 407 /);
  phone.sendRaw(
    [
      `ACK ${uri} SIP/2.0`,
      `Via: SIP/2.0/${phone.transport.toUpperCase()} 127.0.0.1:${phone.localPort};branch=${first.req.branch};rport`,
      'Max-Forwards: 70',
      `From: <${localUri}>;tag=${phone.fromTag}`,
      `To: ${header(challenge, 'To')}`,
      `Call-ID: ${callId}`,
      `CSeq: ${first.req.cseq} ACK`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
  const params = challengeParams(header(challenge, 'Proxy-Authenticate')!);
  const authorization = digestAuthorization({ challenge: params, username: account.username, password: account.password, method: 'INVITE', uri });
  const second = send([`Proxy-Authorization: ${authorization}`]);
  const ok = await second.final;
  assert.match(ok, /^SIP\/2\.0 200 /, `the authenticated call was answered: ${ok.split('\r\n')[0]}`);
  const leg: Leg = {
    callId,
    localTag: phone.fromTag,
    remoteTag: tagOf(header(ok, 'To'))!,
    localUri,
    remoteUri: `sip:${target}@127.0.0.1`,
    remoteTarget: uriOf(header(ok, 'Contact')),
    cseq: second.req.cseq,
  };
  ack(phone, leg, second.req.cseq);
  return { ...leg, answer: body(ok) };
}
