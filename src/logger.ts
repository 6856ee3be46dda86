// ringcast logs lifecycle events (attach, detach, eviction, close), never
// per message, through an injected pino logger; silent unless given one.
import { pino, type Logger } from 'pino';

export type { Logger };

let silent: Logger | undefined;

export function resolveLogger(logger: Logger | undefined, name: string): Logger {
  if (logger) return logger.child({ component: name });
  silent ??= pino({ enabled: false });
  return silent;
}
