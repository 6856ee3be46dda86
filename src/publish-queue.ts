// What every publisher shares between its publish calls: one ordered queue of
// the publishes that had to wait, and the wait for room itself (announced to
// the core first, so an ack's doorbell is never lost; with evictAfterMs, the
// subscriber that blocks too long is evicted). Providers differ only in the
// hooks (a socket bus watches its subscribers' doorbells while it sleeps).
import { abortError, closedError } from './errors.js';

const RESOLVED = Promise.resolve();

/** @internal The publisher's side of the core's wait for room. */
export interface RoomSource {
  /** Announces the wait; false when room came meanwhile (do not sleep). */
  prepareWait(length: number): boolean;
  endWait(): void;
  /** Evicts whoever keeps a `length`-byte message out; returns how many. */
  evictBlocking(length: number): number;
}

/** @internal */
export interface PublishQueueHooks {
  /** The publisher is closing: queued publishes reject. */
  closing(): boolean;
  /** The queue emptied (the `drain` event). */
  drained(): void;
  /** After a wait or an eviction for blocking: report slot transitions. */
  changed(): void;
  /** The wait begins (true) or ends (false). */
  sleeping?(asleep: boolean): void;
}

/** @internal */
export class PublishQueue {
  #room: RoomSource;
  #hooks: PublishQueueHooks;
  #evictAfterMs: number | undefined;
  #queued = 0;
  #chain: Promise<void> = RESOLVED;
  #wake: (() => void) | null = null;
  /** Since when the head of the queue has found no room (evictAfterMs counts from here). */
  #blockedSince: number | null = null;

  constructor(room: RoomSource, hooks: PublishQueueHooks, evictAfterMs: number | undefined) {
    this.#room = room;
    this.#hooks = hooks;
    this.#evictAfterMs = evictAfterMs;
  }

  /** Publishes queued or running (visible backpressure). */
  get queued(): number {
    return this.#queued;
  }

  /** Runs `job` after every earlier one; fails with ERR_RINGCAST_CLOSED once closing. */
  enqueue(job: () => Promise<void>): Promise<void> {
    this.#queued++;
    const run = this.#chain
      .then(() => {
        if (this.#hooks.closing()) throw closedError('publisher');
        return job();
      })
      .finally(() => {
        if (--this.#queued === 0) this.#hooks.drained();
      });
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /** Resolves once every queued publish has settled. */
  settled(): Promise<void> {
    return this.#chain;
  }

  /** Something was written: the blocked clock starts again. */
  progressed(): void {
    this.#blockedSince = null;
  }

  /** An ack, a leave or an eviction may have made room. */
  wake(): void {
    this.#wake?.();
  }

  /** Sleeps until wake() (or, with evictAfterMs, until the blocker is evicted). */
  async waitForRoom(length: number, signal: AbortSignal | undefined): Promise<void> {
    if (this.#hooks.closing()) throw closedError('publisher');
    if (signal?.aborted) throw abortError(signal);
    if (!this.#room.prepareWait(length)) return;
    this.#blockedSince ??= performance.now();
    let onAbort: (() => void) | undefined;
    let evictTimer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        this.#wake = resolve;
        if (this.#evictAfterMs !== undefined) {
          const due = Math.max(0, this.#blockedSince! + this.#evictAfterMs - performance.now());
          evictTimer = setTimeout(() => {
            if (this.#room.evictBlocking(length) > 0) this.#blockedSince = null;
            this.#hooks.changed();
            resolve();
          }, due);
        }
        if (signal) {
          onAbort = () => reject(abortError(signal));
          signal.addEventListener('abort', onAbort, { once: true });
        }
        this.#hooks.sleeping?.(true);
      });
    } finally {
      this.#wake = null;
      if (evictTimer) clearTimeout(evictTimer);
      this.#hooks.sleeping?.(false);
      if (onAbort) signal!.removeEventListener('abort', onAbort);
      if (!this.#hooks.closing()) {
        this.#room.endWait();
        this.#hooks.changed();
      }
    }
    if (this.#hooks.closing()) throw closedError('publisher');
  }
}
