/**
 * The live view across a cluster: each node publishes its live events (calls, provider states) on
 * one Redis channel and takes the other nodes' from it, so a tenant's live view and event stream
 * show its calls on every node, whichever node the portal reached. Fire and forget: while Redis
 * does not answer, a node's view holds its own calls only (nothing queues, call handling never
 * waits), and the other nodes' calls appear again with their next events.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { LiveEvent, LiveView } from './liveView.ts';

const CHANNEL = 'sipswitch:live';

interface Envelope {
  node: string;
  event: LiveEvent;
}

export class RedisLiveRelay {
  private failing = false;

  private constructor(
    private readonly redis: Redis,
    private readonly subscriber: Redis,
    private readonly nodeId: string,
    private readonly log: Logger,
  ) {}

  /** Subscribes (on a connection of its own, as Redis wants for subscribers) and shares `live`'s events. */
  static async start(redis: Redis, live: LiveView, nodeId: string, log: Logger): Promise<RedisLiveRelay> {
    // Subscribed again each time the connection is (re)established, also when Redis was down at start.
    const subscriber = redis.duplicate({ autoResubscribe: false });
    const relay = new RedisLiveRelay(redis, subscriber, nodeId, log);
    subscriber.on('message', (_channel: string, text: string) => {
      let envelope: Envelope;
      try {
        envelope = JSON.parse(text) as Envelope;
      } catch {
        return; // not ours
      }
      if (envelope.node !== nodeId && envelope.event?.tenantId) live.ingest(envelope.event);
    });
    subscriber.on('error', () => {}); // the main connection logs Redis being down
    subscriber.on('ready', () => {
      subscriber.subscribe(CHANNEL).catch((err: Error) => log.warn({ err: err.message }, 'live view: not subscribed to the other nodes’ events (Redis)'));
    });
    await subscriber.connect().catch(() => {
      /* retried by the client; 'ready' subscribes */
    });
    live.share(relay);
    return relay;
  }

  publish(event: LiveEvent): void {
    const text = JSON.stringify({ node: this.nodeId, event } satisfies Envelope);
    this.redis.publish(CHANNEL, text).then(
      () => {
        if (this.failing) this.log.info('live view: other nodes get this node’s events again');
        this.failing = false;
      },
      (err: Error) => {
        if (!this.failing) this.log.warn({ err: err.message }, 'live view: other nodes miss this node’s events while Redis does not answer');
        this.failing = true;
      },
    );
  }

  stop(): void {
    this.subscriber.disconnect();
  }
}
