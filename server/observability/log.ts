import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs by default; human-readable lines when `pretty` (a terminal, or LOG_PRETTY=true). */
export function createLogger(options: { level: string; pretty: boolean }): Logger {
  if (!options.pretty) return pino({ level: options.level, base: { pid: process.pid } });
  return pino({
    level: options.level,
    transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } },
  });
}
