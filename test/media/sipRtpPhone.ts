/**
 * A phone with both halves real: its SIP played by hand over a TestPhone (../helpers/sipDialog.ts)
 * and its audio an RtpPhone (real UDP, RTP). As caller it places a stranger's call with its SDP,
 * ACKs the answer, answers re-INVITEs (keeping what they offered) and BYEs; as callee it registers
 * an account and answers every INVITE with its SDP. Either way it knows where the switch wants its
 * audio (the last SDP the switch gave it).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ack, answeredBy, body, header, inDialog, isFinalFor, tagOf, uriOf, type Leg } from '../helpers/sipDialog.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { mediaTarget, RtpPhone } from './rtpPhone.ts';

export class SipRtpPhone {
  /** re-INVITEs and BYEs the switch sent, as received. */
  readonly reinvites: string[] = [];
  readonly byes: string[] = [];
  /** INVITEs the switch sent this phone as a callee, and CANCELs of them. */
  readonly invites: string[] = [];
  readonly cancels: string[] = [];
  /** The SDP the switch last gave this phone (its 200, an INVITE or a re-INVITE). */
  switchSdp = '';
  leg: Leg | undefined;
  private seen = 0;
  private readonly timer: NodeJS.Timeout;

  private constructor(
    readonly sip: TestPhone,
    readonly rtp: RtpPhone,
    /** The codecs this phone's answers offer (a callee that does not send DTMF as RTP events: '0'). */
    private readonly formats: string,
    /** A callee that only rings (180), never answers. */
    private readonly ringOnly: boolean,
  ) {
    this.timer = setInterval(() => this.answerRequests(), 10);
  }

  static async open(name: string, sipPort: number, o: { formats?: string; ringOnly?: boolean } = {}): Promise<SipRtpPhone> {
    return new SipRtpPhone(await TestPhone.open('udp', sipPort), await RtpPhone.open(name), o.formats ?? '0 101', o.ringOnly ?? false);
  }

  /** This phone's SDP: its real RTP socket, with the codecs it takes. */
  sdp(): string {
    const full = this.rtp.sdp({ claimed: '127.0.0.1', port: this.rtp.port });
    if (this.formats === '0 101') return full;
    return full
      .split('\r\n')
      .filter((l) => !/^a=(rtpmap|fmtp):101 /.test(l))
      .map((l) => (l.startsWith('m=audio ') ? l.replace(/RTP\/AVP .*$/, `RTP/AVP ${this.formats}`) : l))
      .join('\r\n');
  }

  /** The switch's port for this phone's audio. */
  get switchPort(): number {
    return mediaTarget(this.switchSdp).port;
  }

  /** Registers as `account`, so that a dial to it reaches this phone. */
  async register(account: { username: string; password: string }): Promise<void> {
    const { final } = await this.sip.register({ user: account.username, password: account.password, expires: 300 });
    assert.equal(final.status, 200, 'registered');
  }

  /** Removes this phone's registration: dials to the account no longer reach it. */
  async unregister(account: { username: string; password: string }): Promise<void> {
    const { final } = await this.sip.register({ user: account.username, password: account.password, expires: 0 });
    assert.equal(final.status, 200, 'unregistered');
  }

  /** Calls `user` at the switch as a stranger; resolves with the final response (a 200 is ACKed). */
  async call(user: string, sipPort: number, timeoutMs = 10_000): Promise<string> {
    const callId = `${randomBytes(6).toString('hex')}@rtp`;
    const from = 'sip:stranger@127.0.0.1';
    const to = `sip:${user}@127.0.0.1`;
    const invite = this.sip.build({
      method: 'INVITE',
      uri: `sip:${user}@127.0.0.1:${sipPort}`,
      to,
      from,
      callId,
      headers: [`Contact: <sip:caller@127.0.0.1:${this.sip.localPort}>`, 'Content-Type: application/sdp'],
      body: this.sdp(),
    });
    const mark = this.sip.received.length;
    this.sip.sendRaw(invite.text);
    const final = await this.sip.waitFor(isFinalFor(invite.branch), timeoutMs, mark);
    if (!/^SIP\/2\.0 200 /.test(final)) return final;
    this.switchSdp = body(final);
    this.leg = {
      callId,
      localTag: this.sip.fromTag,
      remoteTag: tagOf(header(final, 'To'))!,
      localUri: from,
      remoteUri: to,
      remoteTarget: uriOf(header(final, 'Contact')),
      cseq: invite.cseq,
    };
    ack(this.sip, this.leg, invite.cseq);
    return final;
  }

  /** A DTMF digit as SIP INFO, in `type` (application/dtmf-relay or application/dtmf); resolves with the response. */
  info(digit: string, type: 'application/dtmf-relay' | 'application/dtmf'): Promise<string> {
    const content = type === 'application/dtmf-relay' ? `Signal=${digit}\r\nDuration=160\r\n` : digit;
    return inDialog(this.sip, this.leg!, 'INFO', [`Content-Type: ${type}`], content);
  }

  /** BYE in this phone's call: as caller, or as the callee of the last INVITE it answered. */
  hangUp(): Promise<string> {
    this.leg ??= answeredBy(this.sip, this.invites.at(-1)!);
    return inDialog(this.sip, this.leg, 'BYE');
  }

  /** What the switch sends: INVITEs (to a callee) and re-INVITEs answered with this phone's SDP, BYEs with 200. */
  private answerRequests(): void {
    for (const raw of this.sip.received.slice(this.seen)) {
      if (raw.startsWith('INVITE ')) {
        const reinvite = Boolean(tagOf(header(raw, 'To')));
        (reinvite ? this.reinvites : this.invites).push(raw);
        if (body(raw)) this.switchSdp = body(raw);
        if (!reinvite) this.sip.reply(raw, 180, 'Ringing');
        if (!reinvite && this.ringOnly) continue;
        this.sip.reply(raw, 200, 'OK', ['Content-Type: application/sdp'], this.sdp());
      } else if (raw.startsWith('CANCEL ')) {
        this.cancels.push(raw);
        this.sip.reply(raw, 200, 'OK');
        const invite = this.invites.find((i) => header(i, 'Call-ID') === header(raw, 'Call-ID'));
        if (invite) this.sip.reply(invite, 487, 'Request Terminated');
      } else if (raw.startsWith('BYE ')) {
        this.byes.push(raw);
        this.sip.reply(raw, 200, 'OK');
      }
    }
    this.seen = this.sip.received.length;
  }

  close(): void {
    clearInterval(this.timer);
    this.sip.close();
    this.rtp.close();
  }
}
