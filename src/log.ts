// Logging: pino JSON lines on stderr (for log shippers; stdout is left to command output, so
// `distminer status --json > f` or a pipe reads only what the command prints), pretty-printed
// when stderr is a terminal. DISTMINER_LOG_LEVEL sets the level; DISTMINER_LOG_PRETTY=1|0
// forces either way. Errors are logged as `{ err }` (pino's serializer keeps type, message,
// stack and the error's own fields).
import { isMainThread } from 'node:worker_threads';
import pino, { type Logger } from 'pino';

export type { Logger };

function wantPretty(): boolean {
  const forced = process.env.DISTMINER_LOG_PRETTY;
  if (forced !== undefined) return forced === '1' || forced === 'true';
  return Boolean(process.stderr.isTTY) && isMainThread;
}

let root: Logger | undefined;

// Every logger made in this thread (children of children too, through pino's inherited
// onChild), weakly held, so that `setLogLevel` reaches loggers made before it: a pino child
// copies its parent's level when it is made and never looks again.
const made = new Set<WeakRef<Logger>>();
const forget = new FinalizationRegistry<WeakRef<Logger>>((ref) => made.delete(ref));
function track(l: Logger): void {
  const ref = new WeakRef(l);
  made.add(ref);
  forget.register(l, ref);
}

export function rootLogger(): Logger {
  if (root) return root;
  const level = process.env.DISTMINER_LOG_LEVEL ?? 'info';
  // Synchronous writes to fd 2: a line is out before a crash or process.exit, and lines from
  // worker threads are never interleaved mid-line.
  root = wantPretty()
    ? pino({ level, onChild: track, transport: { target: 'pino-pretty', options: { destination: 2, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } })
    : pino({ level, onChild: track }, pino.destination({ dest: 2, sync: true }));
  return root;
}

/** A child logger for one component, e.g. `logger('sectorid')`. */
export function logger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger().child({ component, ...bindings });
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function checkLogLevel(level: unknown): LogLevel {
  if (typeof level !== 'string' || !(LOG_LEVELS as readonly string[]).includes(level)) throw new Error(`unknown log level ${JSON.stringify(level)}: one of ${LOG_LEVELS.join(', ')}`);
  return level as LogLevel;
}

/**
 * Sets the level of this thread's loggers: every one (and the default for new ones), or only
 * those of `component` (the `component` field of their lines). Returns how many it changed.
 */
export function setLogLevel(level: string, component?: string): number {
  const lv = checkLogLevel(level);
  const r = rootLogger();
  let n = 0;
  if (component === undefined) {
    r.level = lv;
    n++;
  }
  for (const ref of made) {
    const l = ref.deref();
    if (!l) continue;
    if (component !== undefined && l.bindings().component !== component) continue;
    l.level = lv;
    n++;
  }
  return n;
}

/** The components with a live logger in this thread, and their levels (several if they differ). */
export function logComponents(): Record<string, string[]> {
  const out: Record<string, Set<string>> = {};
  for (const ref of made) {
    const l = ref.deref();
    const c = l?.bindings().component;
    if (typeof c === 'string') (out[c] ??= new Set()).add(l!.level);
  }
  return Object.fromEntries(
    Object.entries(out)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([c, s]) => [c, [...s].sort()]),
  );
}
