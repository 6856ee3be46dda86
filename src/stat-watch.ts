// `ringcast stat <bus> --watch`: the descriptor page as a live table,
// with rates computed from the change between two looks.
import { setTimeout as sleep } from 'node:timers/promises';

import { inspectBus, type BusSnapshot } from './inspect.js';

export interface WatchOptions {
  intervalMs: number;
  /** Stop after this many frames (default: until interrupted). */
  frames?: number;
  /** One JSON line per frame (the snapshot, its time and the rates) instead of the table. */
  json?: boolean;
  out?: NodeJS.WritableStream & { isTTY?: boolean };
  signal?: AbortSignal;
}

const CLEAR_SCREEN = '\x1b[H\x1b[2J';

/** Redraws the bus's table every `intervalMs` until `signal` aborts or `frames` were drawn. */
export async function watchBus(address: string, options: WatchOptions): Promise<void> {
  const out = options.out ?? process.stdout;
  let previous: { snapshot: BusSnapshot; at: number } | null = null;
  for (let frame = 0; options.frames === undefined || frame < options.frames; frame++) {
    if (frame > 0) {
      try {
        await sleep(options.intervalMs, undefined, { signal: options.signal });
      } catch {
        return; // interrupted
      }
    }
    const at = performance.now();
    const snapshot = await inspectBus(address);
    const earlier = previous && { snapshot: previous.snapshot, seconds: (at - previous.at) / 1000 };
    if (options.json) out.write(`${JSON.stringify(frameRecord(snapshot, earlier))}\n`);
    else {
      const text = render(snapshot, earlier);
      // A terminal gets the table redrawn in place; a pipe or file gets one frame after another.
      out.write(out.isTTY ? `${CLEAR_SCREEN}${text}` : `${frame > 0 ? '\n' : ''}${text}`);
    }
    previous = { snapshot, at };
  }
}

/** A JSON frame: the snapshot, when it was taken, and per-second rates (null on the first frame). */
export interface WatchFrame extends BusSnapshot {
  time: string;
  rates: { messagesPerSecond: number; bytesPerSecond: number; subscribers: Array<{ slot: number; readBytesPerSecond: number | null }> } | null;
}

function frameRecord(snapshot: BusSnapshot, earlier: { snapshot: BusSnapshot; seconds: number } | null): WatchFrame {
  const per = (now: number, before: number): number => (now - before) / earlier!.seconds;
  return {
    time: new Date().toISOString(),
    ...snapshot,
    rates:
      earlier && earlier.seconds > 0
        ? {
            messagesPerSecond: per(snapshot.messages, earlier.snapshot.messages),
            bytesPerSecond: per(snapshot.head, earlier.snapshot.head),
            subscribers: snapshot.subscribers.map((s) => {
              const before = earlier.snapshot.subscribers.find((e) => e.slot === s.slot && e.pid === s.pid);
              return { slot: s.slot, readBytesPerSecond: before ? per(s.ack, before.ack) : null };
            }),
          }
        : null,
  };
}

/** One frame: the bus line and a row per subscriber. Rates need an earlier look at the same bus. */
export function render(snapshot: BusSnapshot, earlier: { snapshot: BusSnapshot; seconds: number } | null): string {
  const rate = (now: number, before: number | undefined): string =>
    earlier && before !== undefined && earlier.seconds > 0 ? human((now - before) / earlier.seconds) : '-';
  const lines = [
    `${new Date().toISOString()}  bus ${snapshot.path}: publisher pid ${snapshot.publisherPid} (${snapshot.publisherState}), ` +
      `policy ${snapshot.policy}, capacity ${snapshot.capacity} B`,
    `head ${snapshot.head}, ${snapshot.messages} messages; publishing ${rate(snapshot.messages, earlier?.snapshot.messages)} msg/s, ` +
      `${rate(snapshot.head, earlier?.snapshot.head)}B/s`,
  ];
  if (snapshot.subscribers.length === 0) return `${lines.join('\n')}\nno subscribers\n`;
  const header = ['slot', 'pid', 'state', 'reason', 'lag B', 'lag %', 'read B/s', 'evictions', 'lost B', 'lost msgs'];
  const rows = snapshot.subscribers.map((s) => {
    const before = earlier?.snapshot.subscribers.find((e) => e.slot === s.slot && e.pid === s.pid);
    return [
      String(s.slot),
      s.kind === 'guest' ? 'guest' : String(s.pid),
      s.state,
      s.reason ?? '',
      String(s.lagBytes),
      `${((100 * s.lagBytes) / snapshot.capacity).toFixed(0)}%`,
      rate(s.ack, before?.ack),
      String(s.evictions),
      String(s.lostBytes),
      String(s.lostMessages),
    ];
  });
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const format = (cells: string[]): string => cells.map((cell, column) => cell.padStart(widths[column]!)).join('  ');
  return `${[...lines, '', format(header), ...rows.map(format)].join('\n')}\n`;
}

/** 1234567 -> "1.2M" (decimal prefixes, as rates are usually read). */
function human(value: number): string {
  const units = ['', 'k', 'M', 'G', 'T'];
  let unit = 0;
  while (Math.abs(value) >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? Math.round(value) : value.toFixed(1)}${units[unit]}`;
}
