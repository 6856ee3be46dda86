// The same-host control plane: one SOCK_SEQPACKET Unix socket per bus.
// Each control message is one datagram holding one JSON object of at most
// MAX_CONTROL_MESSAGE bytes; descriptors ride along with SCM_RIGHTS.
// docs/protocol.md is the normative description.
import { native } from './native.js';
import type { NativeFdWatcher } from './native.js';

export const PROTOCOL_VERSION = 1;
export const MAX_CONTROL_MESSAGE = 4096;

/** subscriber -> publisher, first message. */
export interface HelloMessage {
  type: 'hello';
  version: number;
  role: 'subscribe' | 'inspect' | 'channel';
}

/** publisher -> subscriber. subscribe: fds = [ring (read-only), ack page, own doorbell, publisher doorbell]; inspect: fds = [ring]. */
export interface WelcomeMessage {
  type: 'welcome';
  version: number;
  slot: number;
  generation: number;
}

export interface RefusedMessage {
  type: 'refused';
  reason: 'version' | 'allow-list' | 'full' | 'quota' | 'protocol' | 'timeout' | 'closing';
  message: string;
}

/** subscriber -> publisher after attach. */
export interface DetachMessage { type: 'detach' }
export interface RejoinMessage { type: 'rejoin' }

export type ControlMessage = HelloMessage | WelcomeMessage | RefusedMessage | DetachMessage | RejoinMessage;

/** Parses one datagram; anything that is not a known, well-formed message is null. */
export function parseControlMessage(data: Buffer): ControlMessage | null {
  if (data.length === 0 || data.length > MAX_CONTROL_MESSAGE) return null;
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const m = value as Record<string, unknown>;
  switch (m.type) {
    case 'hello':
      return Number.isInteger(m.version) && (m.role === 'subscribe' || m.role === 'inspect' || m.role === 'channel')
        ? { type: 'hello', version: m.version as number, role: m.role }
        : null;
    case 'welcome':
      return Number.isInteger(m.version) && Number.isInteger(m.slot) && Number.isInteger(m.generation)
        ? { type: 'welcome', version: m.version as number, slot: m.slot as number, generation: m.generation as number }
        : null;
    case 'refused':
      return typeof m.reason === 'string' && typeof m.message === 'string'
        ? { type: 'refused', reason: m.reason as RefusedMessage['reason'], message: m.message.slice(0, 512) }
        : null;
    case 'detach':
      return { type: 'detach' };
    case 'rejoin':
      return { type: 'rejoin' };
    default:
      return null;
  }
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
    native.unixSend(this.fd, Buffer.from(JSON.stringify(message)), fds);
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
