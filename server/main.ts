/** `npm start`: validates the configuration, starts the switch, stops it cleanly on SIGTERM/SIGINT (stopSignals.ts). */
import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './observability/log.ts';
import { onStopSignals, SAME_REQUEST_MS } from './stopSignals.ts';
import { startSwitch } from './switch.ts';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`sipswitch: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.log);
  log.info({ data: config.databaseDescription, dataDir: config.dataDir }, `data lives in ${config.databaseDescription}`);
  let running;
  try {
    running = await startSwitch(config, log);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (err instanceof ConfigError) log.fatal(err.message);
    else if (e.code === 'EADDRINUSE' || e.code === 'EACCES') log.fatal({ err }, `cannot bind: ${e.message}`);
    else log.fatal({ err }, 'start-up failed');
    await new Promise((r) => setTimeout(r, 100));
    process.exit(1);
  }
  const bound = `${config.sip.host}:${running.sipPort}`;
  const advertised = `${config.sip.advertised.host}:${config.sip.advertised.port ?? running.sipPort}`;
  log.info(
    { sip: bound, advertised, domain: config.sip.domain, portal: running.httpUrl, nodeId: config.nodeId },
    `switch ready: SIP on ${bound} (UDP and TCP)${advertised === bound ? '' : `, advertised as ${advertised}`}, domain ${config.sip.domain}, portal ${running.httpUrl}`,
  );
  const shutdown = async (signal: string) => {
    log.info(`${signal}: refusing new calls, letting calls being set up finish (${signal} again, ${SAME_REQUEST_MS / 1000} s or more after this one, forces the exit)`);
    const force = setTimeout(() => {
      log.error({ exitCode: 1, graceMs: config.calls.shutdownGraceMs }, 'the graceful stop did not finish in time: exiting now');
      log.flush();
      process.exit(1);
    }, config.calls.shutdownGraceMs + 10_000).unref();
    await running.drain(Date.now() + config.calls.shutdownGraceMs);
    log.info('stopping');
    await running.stop();
    clearTimeout(force);
    log.info({ exitCode: 0 }, 'stopped');
    log.flush();
    process.exit(0);
  };
  onStopSignals(log, {
    stop: (signal) => void shutdown(signal),
    force: (signal) => {
      log.warn({ exitCode: 1 }, `${signal} again: exiting now`);
      log.flush();
      process.exit(1);
    },
  });
}

void main();
