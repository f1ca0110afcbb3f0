/**
 * SIGTERM and SIGINT as stop requests. A signal sent to a process group reaches the switch once
 * for every process in between that relays it (npm, tsx's CLI, a shell wrapper) besides its own
 * copy, a few milliseconds apart: those duplicates are one request, not "stop now". A signal
 * well after the first (a person pressing Ctrl-C again because the graceful stop takes long)
 * still forces the exit.
 */
import type { Logger } from 'pino';

/** Signals this soon after the first stop request belong to it. */
export const SAME_REQUEST_MS = 2000;

export interface StopSignalHandlers {
  /** The one graceful stop. */
  stop(signal: NodeJS.Signals): void;
  /** A later, separate request: exit now. */
  force(signal: NodeJS.Signals): void;
}

export function onStopSignals(log: Logger, handlers: StopSignalHandlers, now: () => number = Date.now): void {
  let requestedAt: number | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    const at = now();
    if (requestedAt === undefined) {
      requestedAt = at;
      handlers.stop(signal);
    } else if (at - requestedAt < SAME_REQUEST_MS) {
      log.info(
        { afterMs: at - requestedAt },
        `${signal} again within ${SAME_REQUEST_MS / 1000} s of the first: the same stop request (a signal to the process group also arrives through every process that relays it)`,
      );
    } else {
      handlers.force(signal);
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
