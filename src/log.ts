// Logging: pino JSON lines by default (for log shippers), pretty-printed when stdout is a
// terminal. DISTMINER_LOG_LEVEL sets the level; DISTMINER_LOG_PRETTY=1|0 forces either way.
import { isMainThread } from 'node:worker_threads';
import pino, { type Logger } from 'pino';

export type { Logger };

function wantPretty(): boolean {
  const forced = process.env.DISTMINER_LOG_PRETTY;
  if (forced !== undefined) return forced === '1' || forced === 'true';
  return Boolean(process.stdout.isTTY) && isMainThread;
}

let root: Logger | undefined;

export function rootLogger(): Logger {
  if (root) return root;
  const level = process.env.DISTMINER_LOG_LEVEL ?? 'info';
  root = wantPretty()
    ? pino({ level, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } })
    : pino({ level });
  return root;
}

/** A child logger for one component, e.g. `logger('sectorid')`. */
export function logger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger().child({ component, ...bindings });
}
