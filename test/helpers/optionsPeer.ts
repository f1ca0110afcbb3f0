/** A stand-in provider that only answers OPTIONS, over UDP on loopback. */
import dgram from 'node:dgram';

/** A provider's SIP port that answers each OPTIONS with `status` while `answering` is true. */
export async function optionsPeer(status: string) {
  const socket = dgram.createSocket('udp4');
  const state = { answering: true, pings: 0 };
  socket.on('message', (m, rinfo) => {
    const text = m.toString('latin1');
    if (!text.startsWith('OPTIONS ')) return;
    state.pings++;
    if (!state.answering) return;
    const head = text.split('\r\n\r\n')[0]!.split('\r\n');
    const copy = (name: string) => head.filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
    const reply = [`SIP/2.0 ${status}`, ...copy('Via'), ...copy('From'), `${copy('To')[0]};tag=peer`, ...copy('Call-ID'), ...copy('CSeq'), 'Content-Length: 0', '', ''].join(
      '\r\n',
    );
    socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return { port: socket.address().port, state, close: () => socket.close() };
}
