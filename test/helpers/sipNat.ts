/**
 * A NAT for one phone's SIP, as the switch sees a phone behind a home router: the phone sends its
 * SIP here (its outbound proxy) and the switch sees it come from this socket's address, and sends
 * back here. On the way out, every SDP the phone sends is rewritten to name an address where
 * nothing listens (127.0.0.99, a port nobody holds), as a phone behind NAT names its private
 * address: audio sent where its SDP says is lost, and reaches the phone only from a relay that
 * sends to where the phone's RTP comes from (latching). The audio itself does not pass here.
 */
import dgram from 'node:dgram';

export const UNREACHABLE_ADDRESS = '127.0.0.99';

export interface SipNat {
  /** Where the phone sends its SIP. */
  port: number;
  /** SDPs rewritten so far. */
  rewritten: number;
  close(): Promise<void>;
}

/** The SDP as the NAT lets it out: the phone's address and ports replaced by unreachable ones. */
export function natSdp(sdp: string, unreachablePort: number): string {
  return sdp
    .replace(/^c=IN IP4 \S+/gm, `c=IN IP4 ${UNREACHABLE_ADDRESS}`)
    .replace(/^o=(.*) IN IP4 \S+/gm, `o=$1 IN IP4 ${UNREACHABLE_ADDRESS}`)
    .replace(/^m=audio \d+/gm, `m=audio ${unreachablePort}`)
    .replace(/^a=rtcp:\d+.*$/gm, `a=rtcp:${unreachablePort + 1}`);
}

/** A SIP message with its SDP body rewritten and Content-Length fixed; other messages as they are. */
function rewrite(message: Buffer, unreachablePort: number): { out: Buffer; changed: boolean } {
  const text = message.toString('utf8');
  const split = text.indexOf('\r\n\r\n');
  if (split < 0 || !/^content-type:\s*application\/sdp/im.test(text.slice(0, split))) return { out: message, changed: false };
  const body = natSdp(text.slice(split + 4), unreachablePort);
  const head = text.slice(0, split).replace(/^(content-length|l):\s*\d+/im, `Content-Length: ${Buffer.byteLength(body)}`);
  return { out: Buffer.from(`${head}\r\n\r\n${body}`), changed: true };
}

/** A UDP port on 127.0.0.1 nobody listens on (bound a moment, then let go). */
async function unusedPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port - (port % 2);
}

export async function startSipNat(switchPort: number): Promise<SipNat> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const unreachablePort = await unusedPort();
  let phone: { address: string; port: number } | undefined;
  const nat: SipNat = { port: socket.address().port, rewritten: 0, close: () => new Promise((resolve) => socket.close(() => resolve())) };
  socket.on('message', (msg, from) => {
    if (from.port === switchPort && from.address === '127.0.0.1') {
      if (phone) socket.send(msg, phone.port, phone.address);
      return;
    }
    phone = { address: from.address, port: from.port };
    const { out, changed } = rewrite(msg, unreachablePort);
    if (changed) nat.rewritten++;
    socket.send(out, switchPort, '127.0.0.1');
  });
  return nat;
}
