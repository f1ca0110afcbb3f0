/**
 * The switch opens TCP connections of its own: a destination reached over TCP (a provider, a SIP
 * URI with transport=tcp) with no connection yet gets one, and the dialog's requests use it.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createSipAccount, signUp } from '../helpers/api.ts';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';

/** A TCP SIP peer that answers every INVITE with `status` and records what it received. */
async function tcpCallee(status: number): Promise<{ port: number; received: string[]; connections: number; close(): Promise<void> }> {
  const received: string[] = [];
  const state = { connections: 0 };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    state.connections++;
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffer.slice(0, end);
        const length = Number(/^Content-Length:\s*(\d+)/im.exec(head)?.[1] ?? 0);
        if (buffer.length < end + 4 + length) return;
        const message = buffer.slice(0, end + 4 + length);
        buffer = buffer.slice(end + 4 + length);
        received.push(message);
        if (!message.startsWith('INVITE ')) continue;
        const copy = (name: string) => head.split('\r\n').filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
        const to = copy('To')[0]!;
        socket.write(
          [`SIP/2.0 ${status} Busy Here`, ...copy('Via'), copy('From')[0], `${to};tag=tcpcallee`, ...copy('Call-ID'), ...copy('CSeq'), 'Content-Length: 0', '', ''].join('\r\n'),
        );
      }
    });
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    received,
    get connections() {
      return state.connections;
    },
    // The switch keeps its connection open (idle timeout): end ours, or close() would wait for it.
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      }),
  };
}

describe('outbound TCP', () => {
  let sw: TestSwitch;
  before(async () => {
    sw = await startTestSwitch('sqlite');
  });
  after(async () => {
    await sw.close();
  });

  test('a dial to a transport=tcp URI opens a connection; the answer and the ACK travel on it', async () => {
    const callee = await tcpCallee(486);
    const api = await signUp(sw.httpUrl);
    const alice = await createSipAccount(api);
    await api.request('PUT', '/dialplans/totcp', {
      source: `export default async function () {\n  const r = await dial('sip:bob@127.0.0.1:${callee.port};transport=tcp');\n  log(r.result);\n}\n`,
    });
    assert.equal((await api.patch(`/sip-accounts/${alice.id}`, { dialplanIn: 'totcp' })).status, 200);
    const caller = await TestPhone.open('udp', sw.sipPort);
    try {
      caller.sendRaw(
        caller.build({
          method: 'INVITE',
          uri: `sip:${alice.username}@127.0.0.1`,
          to: `sip:${alice.username}@127.0.0.1`,
          from: 'sip:stranger@example.net',
          headers: [`Contact: <sip:s@127.0.0.1:${caller.localPort}>`],
        }).text,
      );
      const final = await caller.waitFor((r) => /^SIP\/2\.0 [2-6]\d\d/.test(r) && !r.startsWith('SIP/2.0 100'), 8000);
      assert.match(final, /^SIP\/2\.0 486/);
      const deadline = Date.now() + 3000;
      while (!callee.received.some((m) => m.startsWith('ACK ')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const invite = callee.received.find((m) => m.startsWith('INVITE '));
      assert.ok(invite, 'the TCP callee got the INVITE');
      assert.match(invite, /^Via: SIP\/2\.0\/TCP 127\.0\.0\.1:/m);
      assert.ok(
        callee.received.some((m) => m.startsWith('ACK ')),
        'the ACK for the 486 came on the same connection',
      );
      assert.equal(callee.connections, 1);
    } finally {
      caller.close();
      await callee.close();
    }
  });
});
