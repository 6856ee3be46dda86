// What a subscriber needs from a region provider that attaches through shared
// memory instead of a control socket: ivshmem guests (src/providers/ivshmem.ts) and Xen
// domains (src/providers/xen.ts). The join handshake is the one of docs/protocol.md,
// "Attach through shared memory"; the reads are every subscriber's.
import { PublisherGoneError, RefusedError, RingcastError } from './errors.js';
import { C, type NativeSubscriber } from './native.js';

const VERDICTS: Record<number, string> = {
  [C.RC_JOIN_BAD_PEER]: 'bad-peer',
  [C.RC_JOIN_BAD_ORDER]: 'bad-order',
  [C.RC_JOIN_CLOSED]: 'closing',
  [C.RC_JOIN_BACKOFF]: 'backoff',
};

/** Why the publisher refused a join, as the `refuse` event and RefusedError say it. */
export function verdictName(verdict: number): string {
  return VERDICTS[verdict] ?? `verdict-${verdict}`;
}

/**
 * @internal How every shared-memory route reports a join (or rejoin) that
 * did not end in RC_OK: no answer within `timeoutMs` (`timedOut`), a
 * refusal (RC_EINVAL with the publisher's verdict: RefusedError naming it),
 * or an answer that does not fit the ring.
 */
export function joinFailure(where: string, status: number, verdict: number, timeoutMs: number, timedOut: boolean): Error {
  if (timedOut) return new RingcastError('ERR_RINGCAST_HANDSHAKE', `${where}: no join answer within ${timeoutMs} ms`);
  // The ring says its publisher ended (a ring left behind): nobody will answer.
  if (status === C.RC_ECLOSED || status === C.RC_EABORTED) {
    const state = status === C.RC_ECLOSED ? 'CLOSED' : 'ABORTED';
    return new PublisherGoneError(`${where}: its publisher has ended (publisher_state ${state}); no join will be answered`);
  }
  if (status === C.RC_EINVAL && verdict !== 0 && verdict !== C.RC_JOIN_ACCEPTED) {
    const reason = verdictName(verdict);
    return new RefusedError(reason, `${where}: the publisher refused the join (${reason})`);
  }
  return new RingcastError('ERR_RINGCAST_HANDSHAKE', `${where}: the join answer does not match the ring (status ${status})`);
}

/** @internal An attached subscriber of a shared-memory provider. */
export interface SharedMemoryAttachment {
  /** The reads, as for a socket subscriber; its doorbellFd is what wakes us. */
  readonly reader: NativeSubscriber;
  /** FdWatcher's doorbell kind for reader.doorbellFd (true: an eventfd). */
  readonly doorbell: boolean | number;
  /** Joins the same slot again after an eviction. */
  rejoin(timeoutMs: number): Promise<void>;
  /**
   * Gives the slot back without waiting for the answer. Synchronous, and it
   * must not reach the Subscriber: close(), the release of a subscriber
   * collected unclosed and the exit hook all call it (src/subscriber.ts,
   * SubscriberLeftovers).
   */
  leave(): void;
  /** True once the publisher is known to be gone (no socket tells us). */
  publisherGone(): boolean;
  /** How often to ask publisherGone(), in ms. */
  readonly checkEveryMs: number;
  /** Fields for the `attached` log line. */
  readonly logFields: Record<string, unknown>;
}

/** @internal How a subscriber of a shared-memory provider attaches. */
export interface SharedMemoryRoute {
  /** Names the bus in errors, logs and Subscriber#path. */
  readonly where: string;
  attach(timeoutMs: number, signal: AbortSignal | undefined): Promise<SharedMemoryAttachment>;
}
