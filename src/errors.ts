// Typed errors: every error ringcast raises is a RingcastError with a stable
// string `code`; the subclasses carry what a caller needs to react.

/**
 * Every code an error from ringcast can carry: a RingcastError's, and the
 * three the addon and its loader set on plain Errors (NO_ADDON, NATIVE,
 * MESSAGE_TOO_LONG). test/errors.test.ts checks this list against every
 * code the sources raise.
 */
export const RINGCAST_ERROR_CODES = [
  'ERR_RINGCAST_INVALID_OPTION',
  'ERR_RINGCAST_CLOSED',
  'ERR_RINGCAST_EVICTED',
  'ERR_RINGCAST_PUBLISHER_GONE',
  'ERR_RINGCAST_PUBLISHER_ABORTED',
  'ERR_RINGCAST_CORRUPT',
  'ERR_RINGCAST_REFUSED',
  'ERR_RINGCAST_HANDSHAKE',
  'ERR_RINGCAST_BAD_REGION',
  'ERR_RINGCAST_TOO_BIG',
  'ERR_RINGCAST_TRUNCATED',
  'ERR_RINGCAST_STATE',
  'ERR_RINGCAST_ABORTED',
  'ERR_RINGCAST_SYSTEM',
  /** A bus address that does not parse, or lacks what its use needs (src/address.ts, AddressError). */
  'ERR_RINGCAST_BAD_ADDRESS',
  /** A valid address used where that kind of bus is not supported yet (e.g. a Channel over Xen). */
  'ERR_RINGCAST_UNSUPPORTED',
  /** The addon could not be loaded (src/load-addon.ts): not built, or built for another Node ABI. */
  'ERR_RINGCAST_NO_ADDON',
  /** The C core returned a status the binding has no better name for (native/binding/addon.cc). */
  'ERR_RINGCAST_NATIVE',
  /** A control message larger than the receive buffer (native/binding/addon.cc, recv). */
  'ERR_RINGCAST_MESSAGE_TOO_LONG',
] as const;

export type RingcastErrorCode = (typeof RINGCAST_ERROR_CODES)[number];

export class RingcastError extends Error {
  readonly code: RingcastErrorCode;
  constructor(code: RingcastErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RingcastError';
    this.code = code;
  }
}

/** Why a subscriber stopped counting for the publisher. */
export type EvictionReason = 'slow' | 'protocol' | 'dead' | 'closed' | 'lapped';

/**
 * The publisher stopped waiting for this subscriber. Bytes in
 * [lostFrom, lostTo) of the bus were not delivered to it, and
 * `lostMessages` messages: both counted from what this subscriber had
 * read (a message it had partly read counts as lost). Rejoin at the live
 * head with `subscriber.rejoin()`.
 */
export class EvictedError extends RingcastError {
  readonly reason: EvictionReason;
  readonly lostFrom: number;
  readonly lostTo: number;
  /** Messages in the lost range (undefined for `lapped`: overwritten records cannot be counted). */
  readonly lostMessages: number | undefined;
  constructor(reason: EvictionReason, lostFrom: number, lostTo: number, lostMessages?: number) {
    super(
      'ERR_RINGCAST_EVICTED',
      `evicted (${reason}): lost bus positions ${lostFrom}..${lostTo} (${Math.max(0, lostTo - lostFrom)} bytes` +
        `${lostMessages === undefined ? '' : `, ${lostMessages} messages`})`,
    );
    this.name = 'EvictedError';
    this.reason = reason;
    this.lostFrom = lostFrom;
    this.lostTo = lostTo;
    this.lostMessages = lostMessages;
  }
  get lostBytes(): number {
    return Math.max(0, this.lostTo - this.lostFrom);
  }
}

/** The publisher's process went away without closing; everything it committed was delivered first. */
export class PublisherGoneError extends RingcastError {
  constructor(message = 'publisher went away without closing the bus (all committed messages were delivered)') {
    super('ERR_RINGCAST_PUBLISHER_GONE', message);
    this.name = 'PublisherGoneError';
  }
}

/**
 * The publisher aborted the bus (`publisher.abort()`, or `ringcast pub`
 * interrupted before its input ended): everything it committed was
 * delivered, but the stream is incomplete. An orderly `close()` ends the
 * stream without an error instead.
 */
export class PublisherAbortedError extends RingcastError {
  constructor(message = 'the publisher aborted the bus: the stream was cut short (all committed messages were delivered)') {
    super('ERR_RINGCAST_PUBLISHER_ABORTED', message);
    this.name = 'PublisherAbortedError';
  }
}

/** The attach was refused by the publisher (allow list, full, bad version...). */
export class RefusedError extends RingcastError {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super('ERR_RINGCAST_REFUSED', `attach refused (${reason}): ${message}`);
    this.name = 'RefusedError';
    this.reason = reason;
  }
}

/** The most characters of user input an error message quotes; past it, the rest is cut (quoteInput). */
export const MAX_QUOTED_INPUT = 200;

/**
 * User input as an error message quotes it (JSON, so control characters and
 * quotes stay visible), cut to MAX_QUOTED_INPUT characters with an ellipsis
 * and the total length: a megabyte address must not become a megabyte
 * message in every log line and terminal it reaches.
 */
export function quoteInput(value: unknown): string {
  let shown: string;
  try {
    // JSON says null for NaN and ±Infinity (1e309): show the number that was given.
    shown = typeof value === 'bigint' ? `${value}n` : typeof value === 'number' && !Number.isFinite(value) ? String(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    shown = String(value);
  }
  if (shown.length <= MAX_QUOTED_INPUT) return shown;
  const length = typeof value === 'string' ? `${value.length} characters` : `${shown.length} characters as JSON`;
  // Cut between UTF-16 halves of a pair would leave a lone surrogate in the message.
  let end = MAX_QUOTED_INPUT;
  if (/[\uD800-\uDBFF]/.test(shown[end - 1]!)) end--;
  return `${shown.slice(0, end)}… (${length} in all)`;
}

export function invalidOption(name: string, value: unknown, expected: string): RingcastError {
  return new RingcastError('ERR_RINGCAST_INVALID_OPTION', `option ${name}: expected ${expected}, got ${quoteInput(value)}`);
}

export function abortError(signal: AbortSignal): RingcastError {
  return new RingcastError('ERR_RINGCAST_ABORTED', 'operation aborted', { cause: signal.reason });
}

export function closedError(what: string): RingcastError {
  return new RingcastError('ERR_RINGCAST_CLOSED', `${what} is closed`);
}
