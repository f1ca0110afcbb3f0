/**
 * The embedded relay in a process of its own for the media bench, so its CPU is measured apart
 * from the load generator's (rtpengine is a process of its own anyway). Driven over IPC: each
 * message `{id, op, req}` (op: offer, answer, delete) is answered `{id, ok, value | error}`.
 * Settings come in MEDIA_BENCH_RELAY as JSON (EmbeddedRelayOptions).
 */
import { EmbeddedRelay, type EmbeddedRelayOptions } from '../../server/media/embedded/embeddedRelay.ts';

const relay = new EmbeddedRelay(JSON.parse(process.env.MEDIA_BENCH_RELAY ?? '{}') as EmbeddedRelayOptions);
const ops = {
  offer: relay.offer.bind(relay),
  answer: relay.answer.bind(relay),
  delete: relay.delete.bind(relay),
} as const;

process.on('message', (m: { id: number; op: keyof typeof ops; req: never }) => {
  ops[m.op](m.req).then(
    (value) => process.send!({ id: m.id, ok: true, value }),
    (err: Error) => process.send!({ id: m.id, ok: false, error: err.message }),
  );
});
process.on('disconnect', () => {
  void relay.close().then(() => process.exit(0));
});
process.send!({ ready: true });
