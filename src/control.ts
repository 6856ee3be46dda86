// The same-host control plane: one SOCK_SEQPACKET Unix socket per bus.
// Each control message is one datagram of at most MAX_CONTROL_MESSAGE bytes
// in the binary format of native/include/ringcast_control.h, encoded and
// checked by the C codec (native/src/control/rc_control.c, fuzzed in native/fuzz);
// descriptors ride along with SCM_RIGHTS. docs/protocol.md is the normative
// description.
import { C, native } from './native.js';
import type { NativeControlMessage, NativeFdWatcher } from './native.js';

export const PROTOCOL_VERSION = C.RC_PROTOCOL_VERSION;
export const MAX_CONTROL_MESSAGE = C.RC_CONTROL_MAX_SIZE;

/** subscriber -> publisher, first message. */
export interface HelloMessage {
  type: 'hello';
  version: number;
  role: 'subscribe' | 'inspect' | 'channel';
}

/** publisher -> subscriber. subscribe: fds = [ring (read-only), ack page, its doorbell, its wake-the-publisher doorbell]; inspect: fds = [ring]. */
export interface WelcomeMessage {
  type: 'welcome';
  version: number;
  slot: number;
  generation: number;
  /** The publisher's next message sequence number when the slot was granted. */
  nextSeq: number;
}

/** Why a publisher refused an attach (the `refused` message, the `refuse` event). */
export type RefuseReason = 'version' | 'allow-list' | 'full' | 'quota' | 'protocol' | 'timeout' | 'closing' | 'flood' | 'backoff';

export interface RefusedMessage {
  type: 'refused';
  reason: RefuseReason;
  /** At most RC_CONTROL_MAX_TEXT UTF-8 bytes on the wire; longer text is cut when sent. */
  message: string;
}

/** subscriber -> publisher after attach. */
export interface DetachMessage { type: 'detach' }
export interface RejoinMessage { type: 'rejoin' }

export type ControlMessage = HelloMessage | WelcomeMessage | RefusedMessage | DetachMessage | RejoinMessage;

const ROLES: ReadonlyArray<readonly [number, HelloMessage['role']]> = [
  [C.RC_ROLE_SUBSCRIBE, 'subscribe'],
  [C.RC_ROLE_INSPECT, 'inspect'],
  [C.RC_ROLE_CHANNEL, 'channel'],
];

const REASONS: ReadonlyArray<readonly [number, RefusedMessage['reason']]> = [
  [C.RC_REFUSE_VERSION, 'version'],
  [C.RC_REFUSE_ALLOW_LIST, 'allow-list'],
  [C.RC_REFUSE_FULL, 'full'],
  [C.RC_REFUSE_QUOTA, 'quota'],
  [C.RC_REFUSE_PROTOCOL, 'protocol'],
  [C.RC_REFUSE_TIMEOUT, 'timeout'],
  [C.RC_REFUSE_CLOSING, 'closing'],
  [C.RC_REFUSE_FLOOD, 'flood'],
  [C.RC_REFUSE_BACKOFF, 'backoff'],
];

const ROLE_NAME = new Map(ROLES);
const ROLE_NUMBER = new Map(ROLES.map(([n, name]) => [name, n]));
const REASON_NAME = new Map(REASONS);
const REASON_NUMBER = new Map(REASONS.map(([n, name]) => [name, n]));

/** Parses one datagram; anything that is not a known, well-formed message is null. */
export function parseControlMessage(data: Buffer): ControlMessage | null {
  const m = native.decodeControl(data);
  if (m === null) return null;
  // The codec checked every field the type needs and every enum's range.
  switch (m.type) {
    case C.RC_CONTROL_HELLO:
      return { type: 'hello', version: m.version!, role: ROLE_NAME.get(m.role!)! };
    case C.RC_CONTROL_WELCOME:
      return { type: 'welcome', version: m.version!, slot: m.slot!, generation: m.generation!, nextSeq: m.nextSeq! };
    case C.RC_CONTROL_REFUSED:
      return { type: 'refused', reason: REASON_NAME.get(m.reason!)!, message: m.text! };
    case C.RC_CONTROL_DETACH:
      return { type: 'detach' };
    case C.RC_CONTROL_REJOIN:
      return { type: 'rejoin' };
    default:
      return null;
  }
}

/** The datagram for `message`; throws on a message the codec refuses (a bug on our side). */
export function encodeControlMessage(message: ControlMessage): Buffer {
  return native.encodeControl(toNative(message));
}

function toNative(message: ControlMessage): NativeControlMessage {
  switch (message.type) {
    case 'hello':
      return { type: C.RC_CONTROL_HELLO, version: message.version, role: ROLE_NUMBER.get(message.role) ?? 0 };
    case 'welcome':
      return {
        type: C.RC_CONTROL_WELCOME,
        version: message.version,
        slot: message.slot,
        generation: message.generation,
        nextSeq: message.nextSeq,
      };
    case 'refused':
      return { type: C.RC_CONTROL_REFUSED, reason: REASON_NUMBER.get(message.reason) ?? 0, text: clipText(message.message) };
    case 'detach':
      return { type: C.RC_CONTROL_DETACH };
    case 'rejoin':
      return { type: C.RC_CONTROL_REJOIN };
  }
}

/** At most RC_CONTROL_MAX_TEXT UTF-8 bytes, cut at a character boundary; NUL (never allowed) becomes U+FFFD. */
function clipText(text: string): string {
  const bytes = Buffer.from(text.replaceAll('\0', '\uFFFD'), 'utf8');
  if (bytes.length <= C.RC_CONTROL_MAX_TEXT) return bytes.toString('utf8');
  let end = C.RC_CONTROL_MAX_TEXT;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}

export interface ControlHandlers {
  /** A well-formed message (descriptors are the handler's to close). */
  message(message: ControlMessage, fds: number[]): void;
  /** Garbage, an oversized datagram or an unknown message: the connection is closed right after. */
  violation(detail: string): void;
  /** The peer closed (or died). Called once. */
  closed(): void;
}

/** One end of a control connection, watched by libuv. */
export class ControlConnection {
  readonly fd: number;
  #watcher: NativeFdWatcher;
  #handlers: ControlHandlers;
  #open = true;

  constructor(fd: number, handlers: ControlHandlers) {
    this.fd = fd;
    this.#handlers = handlers;
    this.#watcher = new native.FdWatcher(fd, false, () => this.#drain());
    this.#watcher.start();
  }

  get open(): boolean {
    return this.#open;
  }

  send(message: ControlMessage, fds: number[] = []): void {
    if (!this.#open) return;
    native.unixSend(this.fd, encodeControlMessage(message), fds);
  }

  /** Sends if possible; a peer that already went away is not an error here. */
  trySend(message: ControlMessage, fds: number[] = []): boolean {
    try {
      this.send(message, fds);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Handles now what the socket holds, without waiting for the event loop's
   * poll. A timer that expires while the process was descheduled runs
   * before the poll that would have read the message it waits for: look
   * first, then time out.
   */
  readPending(): void {
    this.#drain();
  }

  /** Stops watching and hands the descriptor to the caller; unread messages stay queued in the socket. */
  detach(): number {
    this.#open = false;
    this.#watcher.close();
    return this.fd;
  }

  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#watcher.close();
    native.closeFd(this.fd);
  }

  #drain(): void {
    while (this.#open) {
      let received: { data: Buffer; fds: number[] } | null;
      try {
        received = native.unixRecv(this.fd, MAX_CONTROL_MESSAGE);
      } catch (error) {
        this.#violate(`unreadable control message: ${(error as Error).message}`);
        return;
      }
      if (received === null) return;
      if (received.data.length === 0) {
        for (const fd of received.fds) native.closeFd(fd);
        this.close();
        this.#handlers.closed();
        return;
      }
      const message = parseControlMessage(received.data);
      if (message === null) {
        for (const fd of received.fds) native.closeFd(fd);
        this.#violate(`malformed control message (${received.data.length} bytes)`);
        return;
      }
      this.#handlers.message(message, received.fds);
    }
  }

  #violate(detail: string): void {
    this.#handlers.violation(detail);
    if (this.#open) {
      this.close();
      this.#handlers.closed();
    }
  }
}
