/**
 * One process of the media bench's RTP load: phones' media for its share of the calls, both
 * sides, 50 packets/s each way per call (172-byte G.711 datagrams), on a schedule shared with the
 * other load processes (slots of RTP_LOAD_SLOT_MS from RTP_LOAD_EPOCH, an absolute time in ms). Every packet
 * carries its slot number, so a window of slots counts exactly what was sent in it and, after a
 * drain, what of it arrived. A few sockets per side serve all calls: the relay latches each leg
 * on its packets and answers from the leg's own port, which tells the calls apart.
 *
 * IPC in: {type: 'add', calls: [{index, toA, toB}]}, {type: 'open', from}, {type: 'close', to},
 * {type: 'stop'}. Out: {type: 'closed', sent, received, lagMs} after 'close'.
 */
import dgram from 'node:dgram';

const SLOT_MS = Number(process.env.RTP_LOAD_SLOT_MS);
/** Slots per 20 ms packet interval: calls are spread over them, as phones are not in step. */
const PHASES = 20 / SLOT_MS;
/** Many sockets: an unprivileged socket's receive buffer is capped (net.core.rmem_max), so spread the load. */
const SOCKETS_PER_SIDE = 16;
const epoch = Number(process.env.RTP_LOAD_EPOCH);
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const calls: Array<{ index: number; toA: number; toB: number; seq: number }> = [];
/** Packets sent and received per slot, from the slot a window opens at; summed over [from, to) at its close. */
let windowFrom = Infinity;
let sentBySlot = new Map<number, number>();
let receivedBySlot = new Map<number, number>();
let running = true;

// Sends go to IP literals: no resolver round trip per packet.
const lookup = (address: string, _f: unknown, cb: (e: null, a: string, f: number) => void) => cb(null, address, 4);
const sides: dgram.Socket[][] = [[], []];
for (const side of sides) {
  for (let i = 0; i < SOCKETS_PER_SIDE; i++) {
    const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 * 1024 * 1024, sendBufferSize: 8 * 1024 * 1024, lookup: lookup as never });
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    s.on('message', (msg) => {
      const slot = msg.length >= 16 ? msg.readUInt32BE(12) : -1;
      if (slot >= windowFrom) receivedBySlot.set(slot, (receivedBySlot.get(slot) ?? 0) + 1);
    });
    side.push(s);
  }
}

function packet(index: number, seq: number, slot: number): Buffer {
  const b = Buffer.allocUnsafe(172);
  b[0] = 0x80;
  b[1] = 0;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE((seq * 160) >>> 0, 4);
  b.writeUInt32BE(index, 8);
  b.writeUInt32BE(slot, 12);
  b.fill(0xff, 16);
  return b;
}

let slot = Math.ceil((now() - epoch) / SLOT_MS);
const loop = (async () => {
  for (; running; slot++) {
    const wait = epoch + slot * SLOT_MS - now();
    // Behind schedule, every slot is still sent, late; received packets get their turn either way.
    await (wait > 1 ? sleep(wait) : new Promise((r) => setImmediate(r)));
    const counted = slot >= windowFrom;
    for (const c of calls) {
      if (c.index % PHASES !== slot % PHASES) continue;
      const k = c.index % SOCKETS_PER_SIDE;
      sides[0]![k]!.send(packet(c.index, c.seq, slot), c.toA, '127.0.0.1');
      sides[1]![k]!.send(packet(c.index, c.seq, slot), c.toB, '127.0.0.1');
      c.seq++;
      if (counted) sentBySlot.set(slot, (sentBySlot.get(slot) ?? 0) + 2);
    }
  }
})();

type Message = { type: string; calls?: Array<{ index: number; toA: number; toB: number }>; from?: number; to?: number };

async function onMessage(m: Message): Promise<void> {
  if (m.type === 'add') for (const c of m.calls!) calls.push({ ...c, seq: 0 });
  else if (m.type === 'open') {
    // A late message (the slot already sent) opens the window at the next slot not yet sent.
    windowFrom = Math.max(m.from!, slot);
    sentBySlot = new Map();
    receivedBySlot = new Map();
  } else if (m.type === 'close') {
    const lagMs = Math.max(0, now() - (epoch + slot * SLOT_MS));
    const to = m.to!;
    const sum = (bySlot: Map<number, number>) => [...bySlot].reduce((n, [s, c]) => (s < to ? n + c : n), 0);
    // Wait until the window's last slot has been sent, then until its packets stop arriving (1 s quiet).
    for (const deadline = Date.now() + 10_000; slot < to && Date.now() < deadline;) await sleep(20);
    let last = -1;
    for (const deadline = Date.now() + 10_000; sum(receivedBySlot) !== last && Date.now() < deadline;) {
      last = sum(receivedBySlot);
      await sleep(1000);
    }
    process.send!({ type: 'closed', sent: sum(sentBySlot), received: sum(receivedBySlot), lagMs });
    windowFrom = Infinity;
  } else if (m.type === 'stop') {
    running = false;
    await loop;
    for (const side of sides) for (const s of side) s.close();
    process.disconnect();
  }
}
// A failure rejects unhandled, which ends this process loudly: the bench must not carry on without it.
process.on('message', (m: Message) => void onMessage(m));
process.send!({ type: 'ready' });
