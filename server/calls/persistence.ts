/**
 * Keeps the restart state of every live call in the database, as a consumer of call events: a
 * call that changed is written at the next flush (every `intervalMs`, in one transaction), an ended
 * call is deleted. Call-handling code does not know this exists.
 */
import type { Logger } from 'pino';
import type { LiveCallStore } from '../store/liveCalls.ts';
import type { Call } from './call.ts';
import type { EventBus } from './events.ts';

export interface CallPersistence {
  /** Writes what is pending now (shutdown, tests). */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

export function persistCalls(o: {
  bus: EventBus;
  store: LiveCallStore;
  nodeId: string;
  /** The live call an event refers to (the service's registry). */
  callById(callId: string): Call | undefined;
  /** The call's record in progress, kept with it so a restarted node completes the same record. */
  recordState?(callId: string): unknown;
  log: Logger;
  intervalMs?: number;
}): CallPersistence {
  const dirty = new Set<string>();
  const ended = new Set<string>();
  let writing: Promise<void> = Promise.resolve();
  let failingSince: number | undefined;

  const unsubscribe = o.bus.subscribe((e) => {
    if (e.type === 'call.ended') {
      dirty.delete(e.callId);
      ended.add(e.callId);
    } else if (e.type !== 'dialplan.log') dirty.add(e.callId);
  });

  const flushOnce = async () => {
    if (!dirty.size && !ended.size) return;
    const now = Date.now();
    const upserts = [];
    for (const id of dirty) {
      const call = o.callById(id);
      if (call) upserts.push({ callId: id, tenantId: call.tenantId, nodeId: o.nodeId, state: { ...call.persistentState(), record: o.recordState?.(id) ?? null }, updatedAt: now });
    }
    const deletes = [...ended];
    dirty.clear();
    ended.clear();
    try {
      await o.store.write(upserts, deletes);
      if (failingSince !== undefined) {
        o.log.info({ failedForMs: now - failingSince }, 'call state is persisted again');
        failingSince = undefined;
      }
    } catch (err) {
      // Keep what failed for the next round; a newer state of the same call supersedes it.
      for (const u of upserts) dirty.add(u.callId);
      for (const d of deletes) ended.add(d);
      // One line per episode, not one per 100 ms flush while the database is away.
      if (failingSince === undefined) {
        failingSince = now;
        o.log.warn({ err, calls: upserts.length, ended: deletes.length }, 'could not persist call state; retrying until the database takes it');
      }
    }
  };
  const flush = () => (writing = writing.then(flushOnce));
  const timer = setInterval(() => void flush(), o.intervalMs ?? 100);
  timer.unref();
  return {
    flush,
    stop: async () => {
      clearInterval(timer);
      unsubscribe();
      await flush();
    },
  };
}
