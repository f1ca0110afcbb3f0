/**
 * A call's SIP messages as a pcap file (libpcap format, link type RAW: each record an IPv4 packet)
 * that Wireshark and tshark open and decode as SIP. Every message is written as one UDP datagram
 * between the peer and the switch, whatever transport carried it (a message over TCP or TLS was
 * framed already, and decoding it needs no stream); an IPv6 peer is written as 0.0.0.0.
 */
import type { CallStoryView, TracedMessage } from '../../contract/callTrace.ts';

const LINKTYPE_RAW = 101;
const SNAPLEN = 65_535;

function ipv4(address: string): Buffer {
  const parts = address.split('.').map(Number);
  return Buffer.from(parts.length === 4 && parts.every((p) => Number.isInteger(p) && p >= 0 && p < 256) ? parts : [0, 0, 0, 0]);
}

/** The IPv4 header's checksum: the ones' complement of the ones' complement sum of its 16-bit words. */
function checksum(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i < header.length; i += 2) sum += header.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function packet(m: TracedMessage, local: CallStoryView['local']): Buffer {
  const payload = Buffer.from(m.text, 'utf8').subarray(0, SNAPLEN - 28);
  const [src, sport, dst, dport] = m.direction === 'in' ? [m.peer.address, m.peer.port, local.address, local.port] : [local.address, local.port, m.peer.address, m.peer.port];
  const ip = Buffer.alloc(20);
  ip.writeUInt8(0x45, 0); // version 4, header of 5 words
  ip.writeUInt16BE(28 + payload.length, 2);
  ip.writeUInt8(64, 8); // TTL
  ip.writeUInt8(17, 9); // UDP
  ipv4(src).copy(ip, 12);
  ipv4(dst).copy(ip, 16);
  ip.writeUInt16BE(checksum(ip), 10);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(sport, 0);
  udp.writeUInt16BE(dport, 2);
  udp.writeUInt16BE(8 + payload.length, 4); // checksum 0: none, allowed over IPv4
  return Buffer.concat([ip, udp, payload]);
}

export function tracePcap(messages: readonly TracedMessage[], local: CallStoryView['local']): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(SNAPLEN, 16);
  header.writeUInt32LE(LINKTYPE_RAW, 20);
  const records = messages.map((m) => {
    const p = packet(m, local);
    const r = Buffer.alloc(16);
    r.writeUInt32LE(Math.floor(m.at / 1000), 0);
    r.writeUInt32LE((m.at % 1000) * 1000, 4);
    r.writeUInt32LE(p.length, 8);
    r.writeUInt32LE(p.length, 12);
    return Buffer.concat([r, p]);
  });
  return Buffer.concat([header, ...records]);
}
