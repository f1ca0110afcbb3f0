import { Router } from 'express';
import { ListenerLimitError, type LiveView } from '../calls/liveView.ts';
import { HttpError } from './errors.ts';
import { scopeOf } from './session.ts';

export interface LiveRouteOptions {
  heartbeatMs?: number;
  /** Bytes a stream may have queued unsent; a client further behind is disconnected. */
  maxBufferedBytes?: number;
}

/**
 * `GET /calls`: the tenant's current calls, as the same snapshots the events carry (times in epoch
 * ms), so a client can load this and then apply `GET /events` to it.
 * `GET /events`: server-sent events, one per call event of the tenant, `id:` = the event's seq;
 * a tenant with its maximum of open streams gets 429 instead.
 */
export function liveRoutes(live: LiveView, o: LiveRouteOptions = {}): Router {
  const heartbeatMs = o.heartbeatMs ?? 15_000;
  const maxBuffered = o.maxBufferedBytes ?? 1024 * 1024;
  const r = Router();

  r.get('/calls', (req, res) => {
    res.json({ items: live.calls(scopeOf(req).tenantId) });
  });

  r.get('/events', (req, res) => {
    const { tenantId } = scopeOf(req);
    let closed = false;
    let heartbeat: NodeJS.Timeout | undefined;
    const close = () => {
      if (closed) return;
      closed = true;
      unsubscribe();
      clearInterval(heartbeat);
      res.destroy();
    };
    let unsubscribe: () => void;
    try {
      unsubscribe = live.subscribe(tenantId, (e) => {
        if (res.writableLength > maxBuffered) return close();
        res.write(`${'seq' in e ? `id: ${e.seq}\n` : ''}data: ${JSON.stringify(e)}\n\n`);
      });
    } catch (err) {
      if (err instanceof ListenerLimitError) throw new HttpError(429, err.message);
      throw err;
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      // Proxies (nginx) would otherwise buffer the stream.
      'X-Accel-Buffering': 'no',
    });
    res.write(': connected\n\n');
    // Comments keep idle connections open through proxies and reveal dead clients.
    heartbeat = setInterval(() => {
      if (res.writableLength > maxBuffered) return close();
      res.write(': heartbeat\n\n');
    }, heartbeatMs);
    req.on('close', close);
    res.on('close', close);
  });

  return r;
}
