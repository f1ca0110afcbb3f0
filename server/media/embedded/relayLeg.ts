/**
 * One leg of a relayed call: the port pair its phone sends to, where its phone is, and what came
 * from it. Symmetric RTP: packets for the phone go to the address its packets come from (latched
 * on the first one), not to the address its SDP names, which behind NAT is a private one. Once
 * latched, another source is ignored, except the address the SDP names itself (the phone, raced by
 * a stray packet). Payloads pass through untouched (G.711, telephone-event, any codec).
 */
import type { RemoteInfo } from 'node:dgram';
import type { LegStats, MediaEvent, RelayLegSnapshot } from '../engine.ts';
import type { MediaSection } from '../sdp.ts';
import type { EndpointAudio } from '../audio/endpointAudio.ts';
import type { PortPair } from './portPool.ts';
import { ReceiveStats } from './receiveStats.ts';

interface Address {
  address: string;
  port: number;
}

const DTMF_DIGITS = '0123456789*#ABCD';

export class RelayLeg {
  readonly stats = new ReceiveStats();
  sentPackets = 0;
  sentBytes = 0;
  /** Packets from a source other than the latched one, dropped. */
  strayPackets = 0;
  /** The leg whose phone this leg's packets go to, when that leg's packets come back here. */
  peer: RelayLeg | undefined;
  /** Set when the switch answered this leg itself: its prompts and recording. */
  endpoint: EndpointAudio | undefined;
  private sdpRtp: Address | undefined;
  private sdpRtcp: Address | undefined;
  private latchedRtp: Address | undefined;
  private latchedRtcp: Address | undefined;
  private telephoneEvent = -1;
  private telephoneEventClock = 8000;
  private lastDtmfTimestamp = -1;
  private closed = false;

  constructor(
    readonly callId: string,
    readonly tag: string,
    private readonly pair: PortPair,
    private readonly emit: (event: MediaEvent) => void,
  ) {
    pair.rtp.on('message', (msg, from) => this.onRtp(msg, from));
    pair.rtcp.on('message', (msg, from) => this.onRtcp(msg, from));
    // A send to a phone that went away makes Linux report ICMP errors on the socket; nothing to do.
    pair.rtp.on('error', () => {});
    pair.rtcp.on('error', () => {});
  }

  get port(): number {
    return this.pair.port;
  }

  /** The phone's SDP for this leg: where to send before it has sent anything, which payload is DTMF. */
  setRemote(section: MediaSection): void {
    const rtp = { address: section.address, port: section.port };
    const rtcp = section.rtcpMux ? rtp : { address: section.address, port: section.rtcpPort ?? section.port + 1 };
    // The phone moved (a re-INVITE naming a new address): whatever it is, its packets are welcome again.
    if (this.sdpRtp && (this.sdpRtp.address !== rtp.address || this.sdpRtp.port !== rtp.port)) {
      this.latchedRtp = undefined;
      this.latchedRtcp = undefined;
    }
    this.sdpRtp = rtp;
    this.sdpRtcp = rtcp;
    this.telephoneEvent = -1;
    for (const [pt, map] of section.rtpmap) {
      if (map.encoding.toLowerCase() === 'telephone-event') {
        this.telephoneEvent = pt;
        this.telephoneEventClock = map.clockRate;
      }
    }
    const first = section.rtpmap.get(Number(section.formats[0]));
    if (first) this.stats.setClockRate(first.clockRate);
  }

  private onRtp(msg: Buffer, from: RemoteInfo): void {
    if (!this.accept(from, false)) return;
    if (msg.length >= 12 && (msg[0]! & 0xc0) === 0x80) {
      const pt = msg[1]! & 0x7f;
      // 72-76 with the marker bit: RTCP multiplexed on the RTP port (RFC 5761), not counted as RTP.
      if (pt < 64 || pt > 95) {
        const timestamp = msg.readUInt32BE(4);
        this.stats.add(msg.readUInt16BE(2), timestamp, msg.readUInt32BE(8), msg.length, performance.now(), Date.now());
        if (pt === this.telephoneEvent) this.dtmf(msg, timestamp);
        else this.endpoint?.received(msg);
      }
    }
    const peer = this.peer;
    if (!peer || peer.peer !== this) return;
    const to = peer.latchedRtp ?? peer.sdpRtp;
    if (!to || peer.closed) return;
    peer.pair.rtp.send(msg, to.port, to.address);
    peer.sentPackets++;
    peer.sentBytes += msg.length;
  }

  /** A packet of the switch's own (a prompt) to this leg's phone. */
  sendToPhone(packet: Buffer): void {
    const to = this.latchedRtp ?? this.sdpRtp;
    if (!to || this.closed) return;
    this.pair.rtp.send(packet, to.port, to.address);
    this.sentPackets++;
    this.sentBytes += packet.length;
  }

  private onRtcp(msg: Buffer, from: RemoteInfo): void {
    if (!this.accept(from, true)) return;
    const peer = this.peer;
    if (!peer || peer.peer !== this || peer.closed) return;
    const to = peer.latchedRtcp ?? peer.sdpRtcp;
    if (to) peer.pair.rtcp.send(msg, to.port, to.address);
  }

  /** Latching: the first source is the phone; later, only it (or the SDP's own address) is. */
  private accept(from: RemoteInfo, rtcp: boolean): boolean {
    const latched = rtcp ? this.latchedRtcp : this.latchedRtp;
    if (latched && latched.port === from.port && latched.address === from.address) return true;
    const sdp = rtcp ? this.sdpRtcp : this.sdpRtp;
    const fromSdpAddress = sdp !== undefined && sdp.port === from.port && sdp.address === from.address;
    // RTCP latches only from the host RTP was latched from, once there is one.
    const plausible = !latched && (!rtcp || !this.latchedRtp || this.latchedRtp.address === from.address);
    if (!fromSdpAddress && !plausible) {
      this.strayPackets++;
      return false;
    }
    const address = { address: from.address, port: from.port };
    if (rtcp) this.latchedRtcp = address;
    else this.latchedRtp = address;
    return true;
  }

  /** RFC 4733: one report per event, when its end bit first shows (the end packet is sent three times). */
  private dtmf(msg: Buffer, timestamp: number): void {
    let headerLength = 12 + 4 * (msg[0]! & 0x0f);
    if (msg[0]! & 0x10) {
      if (msg.length < headerLength + 4) return;
      headerLength += 4 + 4 * msg.readUInt16BE(headerLength + 2);
    }
    if (msg.length < headerLength + 4) return;
    const event = msg[headerLength]!;
    const end = (msg[headerLength + 1]! & 0x80) !== 0;
    if (!end || event >= DTMF_DIGITS.length || timestamp === this.lastDtmfTimestamp) return;
    this.lastDtmfTimestamp = timestamp;
    const units = msg.readUInt16BE(headerLength + 2);
    this.emit({ type: 'media.dtmf', callId: this.callId, tag: this.tag, digit: DTMF_DIGITS[event]!, durationMs: Math.round((units * 1000) / this.telephoneEventClock) });
  }

  snapshot(): LegStats {
    const s = this.stats;
    return {
      tag: this.tag,
      received: { packets: s.packets, bytes: s.bytes, lost: s.lost, jitterMs: s.packets > 1 ? Math.round(s.jitterMs * 100) / 100 : null, lastPacketAt: s.lastPacketAt },
      sent: { packets: this.sentPackets, bytes: this.sentBytes },
      source: this.latchedRtp ? `${this.latchedRtp.address}:${this.latchedRtp.port}` : null,
      flowing: { fromPhone: s.packets > 0, toPhone: this.sentPackets > 0 },
    };
  }

  /** Where its phone is and what it carries, as a restart keeps it (the pairing is the relay's). */
  state(): Omit<RelayLegSnapshot, 'peer'> {
    return {
      tag: this.tag,
      port: this.port,
      ...(this.sdpRtp ? { sdpRtp: this.sdpRtp } : {}),
      ...(this.sdpRtcp ? { sdpRtcp: this.sdpRtcp } : {}),
      ...(this.latchedRtp ? { latchedRtp: this.latchedRtp } : {}),
      ...(this.latchedRtcp ? { latchedRtcp: this.latchedRtcp } : {}),
      telephoneEvent: this.telephoneEvent,
      telephoneEventClock: this.telephoneEventClock,
    };
  }

  /** The state a previous run kept (see `state`). */
  restoreState(s: RelayLegSnapshot): void {
    this.sdpRtp = s.sdpRtp;
    this.sdpRtcp = s.sdpRtcp;
    this.latchedRtp = s.latchedRtp;
    this.latchedRtcp = s.latchedRtcp;
    this.telephoneEvent = s.telephoneEvent;
    this.telephoneEventClock = s.telephoneEventClock;
  }

  /** Marks the leg gone; the caller gives its ports back. */
  close(): PortPair {
    this.closed = true;
    this.peer = undefined;
    this.endpoint?.close();
    return this.pair;
  }
}
