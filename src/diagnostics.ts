// Metrics and lifecycle hooks through node:diagnostics_channel, so an
// application can export ringcast to Prometheus, OpenTelemetry or its logs
// without ringcast depending on any of them. Publishing costs nothing while
// a channel has no subscribers. docs/metrics.md describes the channels.
import diagnosticsChannel from 'node:diagnostics_channel';
import { statSync, unlinkSync } from 'node:fs';

/** The names of ringcast's diagnostics channels. */
export const channels = {
  /** {@link PublisherLifecycleMessage}: listen, subscribe, unsubscribe, state, evict, refuse, drain, close. */
  publisher: 'ringcast:publisher',
  /** {@link SubscriberLifecycleMessage}: connect, state, gap, end, close. */
  subscriber: 'ringcast:subscriber',
  /** {@link StatsMessage}: a stats() snapshot of every open publisher and subscriber, every {@link STATS_INTERVAL_MS} ms while subscribed. */
  stats: 'ringcast:stats',
} as const;

/** How often the `ringcast:stats` channel gets snapshots (only while it has subscribers). */
export const STATS_INTERVAL_MS = 1000;

/** A message on `ringcast:publisher`: `event` is the name of the Publisher event (or `listen`), `detail` its argument. */
export interface PublisherLifecycleMessage {
  event: string;
  path: string;
  /** The Publisher itself (call stats() on it, or listen to its events). */
  publisher: object;
  detail: unknown;
}

/** A message on `ringcast:subscriber`: `event` is the name of the Subscriber event (or `connect`), `detail` its argument. */
export interface SubscriberLifecycleMessage {
  event: string;
  path: string;
  /** The Subscriber itself. */
  subscriber: object;
  detail: unknown;
}

/** A message on `ringcast:stats`. `stats` is PublisherStats or SubscriberStatsSnapshot, by `kind`. */
export interface StatsMessage {
  kind: 'publisher' | 'subscriber';
  path: string;
  pid: number;
  /** performance.timeOrigin + performance.now() when taken, in ms. */
  time: number;
  stats: unknown;
}

type Kind = 'publisher' | 'subscriber';

interface Observed {
  readonly path: string;
  stats(): unknown;
}

const lifecycle = {
  publisher: diagnosticsChannel.channel(channels.publisher),
  subscriber: diagnosticsChannel.channel(channels.subscriber),
};
const statsChannel = diagnosticsChannel.channel(channels.stats);

interface Entry {
  kind: Kind;
  object: WeakRef<Observed>;
  /** Synchronous clean-up at process exit; closes over plain data only, never the object. */
  atExit: (() => void) | null;
}

/** Open publishers and subscribers, held weakly: for stats snapshots and the exit hook. */
const open = new Set<Entry>();
const entries = new WeakMap<Observed, Entry>();
let statsTimer: NodeJS.Timeout | null = null;
let exitHooked = false;

/** Passes one of a Publisher's or Subscriber's events on to its lifecycle channel. */
export function reportEvent(kind: Kind, object: Observed, event: string | symbol, detail: unknown): void {
  const channel = lifecycle[kind];
  if (!channel.hasSubscribers || typeof event !== 'string') return;
  channel.publish({ event, path: object.path, [kind]: object, detail });
}

/** A publisher or subscriber is open: include it in stats snapshots and the exit hook. */
export function track(kind: Kind, object: Observed, atExit: (() => void) | null = null): void {
  const entry: Entry = { kind, object: new WeakRef(object), atExit };
  open.add(entry);
  entries.set(object, entry);
  if (!statsTimer) {
    statsTimer = setInterval(publishStats, STATS_INTERVAL_MS);
    statsTimer.unref();
  }
  if (atExit && !exitHooked) {
    exitHooked = true;
    process.once('exit', runExitHooks);
  }
}

/** It closed. */
export function untrack(object: Observed): void {
  const entry = entries.get(object);
  if (entry) open.delete(entry);
  if (open.size === 0 && statsTimer) {
    clearInterval(statsTimer);
    statsTimer = null;
  }
}

/**
 * At exit, a publisher that was never closed removes its socket path, if the
 * path is still the socket it bound (a later bus may have taken it over). The
 * kernel releases everything else: memory, descriptors, and with them every
 * subscriber's slot.
 */
export function unlinkSocketAtExit(path: string): (() => void) | null {
  let bound: { dev: number; ino: number };
  try {
    bound = statSync(path);
  } catch {
    return null;
  }
  return () => {
    try {
      const now = statSync(path);
      if (now.dev === bound.dev && now.ino === bound.ino) unlinkSync(path);
    } catch {
      // already gone
    }
  };
}

function runExitHooks(): void {
  for (const entry of open) entry.atExit?.();
}

function publishStats(): void {
  if (!statsChannel.hasSubscribers) return;
  for (const entry of open) {
    const object = entry.object.deref();
    if (!object) {
      open.delete(entry); // collected without close(): nothing left to report
      continue;
    }
    let stats: unknown;
    try {
      stats = object.stats();
    } catch {
      continue; // closed between two ticks
    }
    statsChannel.publish({ kind: entry.kind, path: object.path, pid: process.pid, time: performance.timeOrigin + performance.now(), stats } satisfies StatsMessage);
  }
}
