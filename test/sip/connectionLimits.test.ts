/**
 * Stream connections are admitted and kept on terms a stranger cannot stretch: a cap per source
 * address, a deadline for each message (bytes dribbled in do not keep a connection), and the
 * first message due as soon as the connection opens.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { TestPhone } from '../helpers/sipPhone.ts';
import { startTestSwitch, type TestSwitch } from '../helpers/switch.ts';
import { elapse } from '../helpers/time.ts';

/** Resolves when the switch closes the socket (end or reset), or with false after `ms`. */
function closedWithin(socket: net.Socket, ms: number): Promise<boolean> {
  if (socket.destroyed || socket.readableEnded) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    const done = () => {
      clearTimeout(t);
      resolve(true);
    };
    socket.once('close', done);
    socket.once('end', done);
  });
}

async function connect(port: number, localAddress = '127.0.0.1'): Promise<net.Socket> {
  const s = net.connect({ host: '127.0.0.1', port, localAddress });
  s.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    s.once('connect', () => resolve());
    s.once('error', reject);
  });
  return s;
}

describe('stream connection limits', () => {
  let sw: TestSwitch;
  before(async () => {
    sw = await startTestSwitch('sqlite', { env: { SIP_CONNECTIONS_PER_SOURCE: '3', SIP_STREAM_MESSAGE_SECONDS: '1' } });
  });
  after(async () => {
    await sw.close();
  });

  test('one source holds at most its cap of connections; others still connect; a closed one frees its place', async () => {
    const phones = await Promise.all([1, 2, 3].map(() => TestPhone.open('tcp', sw.sipPort)));
    const extra: net.Socket[] = [];
    try {
      for (const p of phones) assert.equal((await p.request({ method: 'OPTIONS' })).status, 200);
      const fourth = await connect(sw.sipPort);
      extra.push(fourth);
      assert.ok(await closedWithin(fourth, 2000), 'the fourth connection from one address is closed at once');

      const other = await TestPhone.open('tcp', sw.sipPort, '127.0.0.2');
      extra.push(other.tcpSocket!);
      assert.equal((await other.request({ method: 'OPTIONS' })).status, 200, 'another address is admitted');

      phones.pop()!.close();
      // Once the switch has seen that connection close (two from here and one from .2 are left)...
      const deadline = Date.now() + 3000;
      while (sw.running.sip.stack.transport.stats().tcpConnections > 3) {
        assert.ok(Date.now() < deadline, 'the switch saw the connection close');
        await new Promise((r) => setTimeout(r, 20));
      }
      // ...its place is free again.
      const again = await TestPhone.open('tcp', sw.sipPort);
      phones.push(again);
      assert.equal((await again.request({ method: 'OPTIONS' })).status, 200, 'a freed place is taken again');
      const text = await (await fetch(`${sw.httpUrl}/metrics`)).text();
      assert.match(text, /sip_connections_refused_total\{reason="source-limit"\} [1-9]/);
    } finally {
      for (const p of phones) p.close();
      for (const s of extra) s.destroy();
    }
  });

  test('a message dribbled in a byte at a time is cut off at the message deadline', async () => {
    const s = await connect(sw.sipPort, '127.0.0.3');
    const text = 'OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.3:5999;branch=z9hG4bKslow\r\n';
    let i = 0;
    // A byte every 100 ms: far more often than the idle timeout, far slower than the deadline allows.
    const drip = setInterval(() => {
      if (!s.destroyed) s.write(text[i++ % text.length]!);
    }, 100);
    try {
      assert.ok(await closedWithin(s, 4000), 'closed within the deadline (1 s) and a sweep');
    } finally {
      clearInterval(drip);
      s.destroy();
    }
  });

  test('a connection that sends nothing is closed once its first message is overdue', async () => {
    const s = await connect(sw.sipPort, '127.0.0.4');
    try {
      assert.ok(await closedWithin(s, 4000));
    } finally {
      s.destroy();
    }
  });

  test('complete messages and keep-alives keep a connection open past the deadline', async () => {
    const p = await TestPhone.open('tcp', sw.sipPort, '127.0.0.5');
    try {
      const closed = closedWithin(p.tcpSocket!, 3000);
      for (let k = 0; k < 5; k++) {
        assert.equal((await p.request({ method: 'OPTIONS' })).status, 200);
        p.sendRaw('\r\n\r\n');
        await elapse(500);
      }
      assert.equal(await closed, false, 'still open after 2.5 s of complete messages');
    } finally {
      p.close();
    }
  });
});
