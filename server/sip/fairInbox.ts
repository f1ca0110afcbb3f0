/**
 * Datagrams waiting to be parsed, queued per source address and served in turn, one source after
 * another, so that one source flooding junk gets its share of the work and no more.
 *
 * Why a queue and not just a rate per source: a node reads a UDP socket only so many datagrams per
 * turn of the event loop (libuv: 32), so whatever work a datagram causes inside that turn slows
 * the reading of all of them; once the kernel's buffer is full it drops datagrams from every
 * source alike, and a flood starves everyone. Here a datagram costs only a push when it arrives;
 * the parsing and everything after it happen in `drain`, which serves each waiting source in turn
 * and yields back to the event loop after `sliceMs`, so reading keeps up. A source whose queue is
 * full loses its newest datagrams (`onDrop`), before any parsing: its own excess, nobody else's.
 */
export interface FairInboxOptions {
  /** Datagrams one source may have waiting; more are dropped. */
  perSource: number;
  /** Datagrams waiting in all; more are dropped (a flood from many sources at once). */
  total: number;
  /** How long one drain may work before it lets the event loop read more. */
  sliceMs: number;
}

export class FairInbox<T> {
  /** Waiting datagrams by source, in the order sources are served next (a Map keeps insertion order). */
  private readonly queues = new Map<string, T[]>();
  private waiting = 0;
  private scheduled?: NodeJS.Immediate;

  constructor(
    private readonly o: FairInboxOptions,
    private readonly handle: (item: T) => void,
    private readonly onDrop: () => void,
  ) {}

  push(source: string, item: T): void {
    const queue = this.queues.get(source);
    if ((queue && queue.length >= this.o.perSource) || this.waiting >= this.o.total) {
      this.onDrop();
      return;
    }
    if (queue) queue.push(item);
    else this.queues.set(source, [item]);
    this.waiting++;
    this.scheduled ??= setImmediate(() => this.drain());
  }

  get size(): number {
    return this.waiting;
  }

  clear(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    this.queues.clear();
    this.waiting = 0;
  }

  private drain(): void {
    this.scheduled = undefined;
    const deadline = performance.now() + this.o.sliceMs;
    let served = 0;
    while (this.waiting > 0) {
      // The source at the front gives one datagram and, if it has more, goes to the back.
      const [source, queue] = this.queues.entries().next().value as [string, T[]];
      this.queues.delete(source);
      const item = queue.shift()!;
      if (queue.length) this.queues.set(source, queue);
      this.waiting--;
      this.handle(item);
      if (++served % 4 === 0 && performance.now() >= deadline) break;
    }
    if (this.waiting > 0) this.scheduled = setImmediate(() => this.drain());
  }
}
