// ringcast logs lifecycle events (attach, detach, eviction, close), never
// per message, through an injected pino logger; silent unless given one.
import { pino, type Logger } from 'pino';
import { invalidOption } from './errors.js';

export type { Logger };

let silent: Logger | undefined;

export function resolveLogger(logger: Logger | undefined, name: string): Logger {
  if (logger !== undefined) {
    // Checked with the other options: else the first log line, at some later event, would throw a TypeError.
    if (typeof (logger as { child?: unknown } | null)?.child !== 'function') throw invalidOption('logger', logger, 'a pino logger (with child())');
    return logger.child({ component: name });
  }
  silent ??= pino({ enabled: false });
  return silent;
}
