/** `npm start`: validates the configuration, starts the switch, stops it cleanly on SIGTERM/SIGINT. */
import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './observability/log.ts';
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
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      log.warn(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    log.info(`${signal}: refusing new calls, letting calls being set up finish (a second ${signal} forces it)`);
    const force = setTimeout(() => process.exit(1), config.calls.shutdownGraceMs + 10_000).unref();
    await running.drain(Date.now() + config.calls.shutdownGraceMs);
    log.info('stopping');
    await running.stop();
    clearTimeout(force);
    log.info('stopped');
    log.flush();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

void main();
