/** Starts a real switch (real sockets on 127.0.0.1, a real database) for a test. */
import { pino } from 'pino';
import { loadConfig } from '../../server/config.ts';
import { createLogger } from '../../server/observability/log.ts';
import { startSwitch, type RunningSwitch, type SwitchOptions } from '../../server/switch.ts';
import { createTestDatabase, type Dialect, type TestDatabase } from './databases.ts';
import { testMediaEnv } from './mediaPorts.ts';

export interface TestSwitch {
  running: RunningSwitch;
  db: TestDatabase;
  sipPort: number;
  httpUrl: string;
  /**
   * Stops the switch and starts it again on the same database, data directory and SIP port (with
   * `env` changed, if given; `whileStopped` runs in between).
   */
  restart(env?: Record<string, string>, whileStopped?: () => Promise<void>): Promise<void>;
  /** Stops the switch and drops its database. */
  close(): Promise<void>;
}

export interface TestSwitchOptions extends SwitchOptions {
  env?: Record<string, string>;
  /** Receives every log line (JSON, all levels), e.g. to show a secret never reaches the logs. */
  logLines?: string[];
}

function configFor(db: TestDatabase, sipPort: number, env: Record<string, string>, media: Record<string, string>) {
  return loadConfig({
    ...media,
    SIP_HOST: '127.0.0.1',
    SIP_PORT: String(sipPort),
    SIP_DOMAIN: '127.0.0.1',
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    DATA_DIR: db.dir,
    DATABASE_URL: db.url,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    LOG_PRETTY: 'false',
    HTTP_SIGNUPS_PER_HOUR: '10000',
    HTTP_LOGINS_PER_15MIN: '10000',
    HTTP_LOGINS_PER_15MIN_PER_ADDRESS: '10000',
    // Test peers (sipp callers) are strangers calling from one address, often many at once: tests
    // of those limits set them.
    STRANGER_CALLS_PER_SOURCE: '10000',
    STRANGER_CALLS_PER_TENANT: '10000',
    SIP_INVITES_PER_MINUTE_PER_SOURCE: '1000000',
    NODE_ID: 'test-node',
    // TLS and HTTPS on free ports: switches run side by side (a self-signed certificate in DATA_DIR).
    SIP_TLS_PORT: '0',
    HTTPS_PORT: '0',
    // Test peers (sipp, providers) run on loopback, which tenants may not reach by default.
    DESTINATION_DENY: 'none',
    // sipp peers playing providers fail on an OPTIONS ping they do not expect: tests that want
    // pings ask for them.
    PROVIDER_PING_SECONDS: '3600',
    DIALPLAN_WORKERS: '1',
    ...env,
  });
}

async function startOnFreePort(db: TestDatabase, opts: TestSwitchOptions, media: Record<string, string>, port = 0): Promise<RunningSwitch> {
  const lines = opts.logLines;
  const log = lines
    ? pino({ level: 'trace', base: { pid: process.pid } }, { write: (line: string) => void lines.push(line) })
    : createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent', pretty: false });
  // Port 0 picks a free UDP port; TCP then binds the same number, which is rarely taken: retry.
  for (let attempt = 0; ; attempt++) {
    try {
      return await startSwitch(configFor(db, port, opts.env ?? {}, media), log, opts);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 5 || port !== 0) throw err;
    }
  }
}

export async function startTestSwitch(dialect: Dialect, options: TestSwitchOptions = {}): Promise<TestSwitch> {
  const db = await createTestDatabase(dialect);
  let opts = options;
  // The same ports across a restart: a resumed call keeps its relay ports.
  const media = testMediaEnv();
  let running = await startOnFreePort(db, opts, media);
  const t: TestSwitch = {
    running,
    db,
    sipPort: running.sipPort,
    httpUrl: running.httpUrl,
    restart: async (env, whileStopped) => {
      await running.stop();
      await whileStopped?.();
      if (env) opts = { ...opts, env: { ...opts.env, ...env } };
      running = await startOnFreePort(db, opts, media, t.sipPort);
      t.running = running;
      t.httpUrl = running.httpUrl;
    },
    close: async () => {
      await running.stop();
      await db.drop();
    },
  };
  return t;
}
