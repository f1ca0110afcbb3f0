/**
 * rtpengine's ng protocol, against a UDP server of the test's own: bencode both ways, the cookie,
 * retries with the same cookie, a timeout when nobody answers, errors as errors.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { test } from 'node:test';
import { bdecode, bencode } from '../../server/media/rtpengine/bencode.ts';
import { NgClient, NgCommandError, NgTimeoutError } from '../../server/media/rtpengine/ngClient.ts';

test('bencode round trip, and malformed input refused', () => {
  const value = { command: 'offer', sdp: 'v=0\r\nö', n: -42, list: ['a', 1, { x: [] }] };
  const wire = bencode(value);
  assert.equal(wire.toString('latin1').slice(0, 14), 'd7:command5:of');
  assert.deepEqual(bdecode(wire), value);
  for (const bad of ['i-0e', 'i01e', '5:abc', 'd3:abce', 'li1e', 'i1ei2e', 'x']) assert.throws(() => bdecode(Buffer.from(bad)), Error, bad);
  const proto = bdecode(Buffer.from('d9:__proto__d1:ai1eee')) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(proto), Object.prototype, 'a __proto__ key is data, not a prototype');
  assert.deepEqual(Object.keys(proto), ['__proto__']);
});

async function server(handle: (cookie: string, body: Record<string, unknown>, reply: (dict: object) => void) => void): Promise<{ port: number; close(): void; seen: string[] }> {
  const s = dgram.createSocket('udp4');
  const seen: string[] = [];
  s.on('message', (msg, from) => {
    const space = msg.indexOf(0x20);
    const cookie = msg.toString('latin1', 0, space);
    seen.push(cookie);
    handle(cookie, bdecode(msg.subarray(space + 1)) as Record<string, unknown>, (dict) =>
      s.send(Buffer.concat([Buffer.from(`${cookie} `), bencode(dict as never)]), from.port, from.address),
    );
  });
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return { port: s.address().port, close: () => s.close(), seen };
}

test('a request is repeated with the same cookie until answered', async () => {
  let calls = 0;
  const srv = await server((_c, body, reply) => {
    if (++calls < 3) return; // the first two are "lost"
    reply({ result: 'pong', echo: String(body.command) });
  });
  const client = new NgClient({ host: '127.0.0.1', port: srv.port, retryMs: 50, attempts: 4 });
  try {
    const r = await client.request('ping');
    assert.equal(r.result, 'pong');
    assert.equal(srv.seen.length, 3);
    assert.equal(new Set(srv.seen).size, 1, 'one cookie for all attempts');
    await client.request('ping');
    assert.notEqual(srv.seen[3], srv.seen[0], 'the next request has a new cookie');
  } finally {
    client.close();
    srv.close();
  }
});

test('no answer at all fails after the last attempt; result error is an NgCommandError', async () => {
  const silent = await server(() => {});
  const client = new NgClient({ host: '127.0.0.1', port: silent.port, retryMs: 30, attempts: 3 });
  await assert.rejects(client.request('ping'), NgTimeoutError);
  assert.equal(silent.seen.length, 3);
  client.close();
  silent.close();

  const refusing = await server((_c, _b, reply) => reply({ result: 'error', 'error-reason': 'Unknown call-id' }));
  const c2 = new NgClient({ host: '127.0.0.1', port: refusing.port });
  await assert.rejects(c2.request('query', { 'call-id': 'x' }), (e: Error) => e instanceof NgCommandError && e.reason === 'Unknown call-id');
  c2.close();
  refusing.close();
});
