// The same-host control plane's server side, once for every listener: a
// bus's Publisher and a ChannelServer both accept here. It owns the rules an
// unauthenticated peer meets before it costs us anything: the listening
// socket, the flood limit (maxPendingHandshakes, refused at accept), the
// allow list (SO_PEERCRED, checked at accept: a peer not on it never holds a
// handshake slot), the handshake timer, the hello's version and role, and a
// `refuse` event for every refusal. What a listener does with an accepted
// hello (attach a subscriber, set a channel up) is its session's.
import { unlinkSync } from 'node:fs';

import { ControlConnection, PROTOCOL_VERSION, encodeControlMessage, type ControlMessage, type HelloMessage, type RefuseReason } from '../control.js';
import { invalidOption } from '../errors.js';
import type { RefuseEvent } from '../events.js';
import type { Logger } from '../logger.js';
import { native, type NativeFdWatcher, type NativePeer } from '../native.js';
import { checkIdList, checkInteger, checkKnownOptions } from '../options.js';

/** Who may connect, by uid or gid as SO_PEERCRED reports them. */
export interface AllowList {
  uids: number[];
  gids: number[];
}

/** `allow` option of Publisher and ChannelServer, validated; default: this process's uid only. */
export function checkAllow(allow: unknown): AllowList {
  if (allow !== undefined && (typeof allow !== 'object' || allow === null)) {
    throw invalidOption('allow', allow, '{ uids?: number[], gids?: number[] }');
  }
  if (allow !== undefined) checkKnownOptions('allow', allow, ['uids', 'gids']);
  const given = allow as { uids?: unknown; gids?: unknown } | undefined;
  const uids = checkIdList('allow.uids', given?.uids);
  const gids = checkIdList('allow.gids', given?.gids);
  return { uids: uids ?? (given ? [] : [process.getuid?.() ?? 0]), gids: gids ?? [] };
}

/** maxPendingHandshakes unless given: handshakes in progress at once, for a bus and a channel server alike. */
export const DEFAULT_MAX_PENDING_HANDSHAKES = 16;

/** `maxPendingHandshakes`, validated. */
export function checkMaxPendingHandshakes(value: unknown): number {
  return checkInteger('maxPendingHandshakes', value, DEFAULT_MAX_PENDING_HANDSHAKES, 1, 1024);
}

/**
 * Connections taken from the backlog per readiness callback. The listening
 * socket stays readable while more wait (the watcher is level-triggered), so
 * the rest are taken on the loop's next turn: a peer that connects and closes
 * as fast as it can keeps the backlog full, and accepting until it is empty
 * would never return to the publisher's timers, its publishes and the other
 * connections (a connect-and-close loop stopped a publisher for as long as it
 * ran).
 */
const ACCEPTS_PER_TURN = 16;

/** One connection between accept and the end of its handshake, as a listener's session sees it. */
export interface Handshake {
  readonly peer: NativePeer;
  readonly connection: ControlConnection;
  /** Tells the peer why, emits `refuse`, and ends the connection. */
  refuse(reason: RefuseReason, message: string): void;
  /** Tells the peer why and emits `refuse`, but keeps the connection (a refused rejoin: it may ask again). */
  tell(reason: RefuseReason, message: string): void;
  /** The handshake succeeded: no timer any more, and it no longer counts against maxPendingHandshakes. */
  established(): void;
  /** Ends the connection (session.closed follows). */
  end(): void;
  /** Hands the socket over to another owner (messages still queued stay in it); nothing here closes it then. */
  handOver(): number;
}

/** What a listener does with a connection whose hello was accepted. */
export interface ControlSession {
  /** A later message (descriptors are the session's to close); default: refused as a protocol violation. */
  message?(message: ControlMessage, fds: number[]): void;
  /** Garbage after the hello (the connection is ended right after); default: refused as a protocol violation. */
  violation?(detail: string): void;
  /** The connection ended: the peer closed or died, it was refused, or end() was called. Once. */
  closed?(): void;
}

export interface ControlServerOptions {
  /** The socket path to listen on (removed again by close()). */
  path: string;
  /** How refusals and logs name what listens here: `bus`, `channel`. */
  noun: string;
  /** The hello roles served; any other is refused with reason `protocol` and `wrongRole`'s text. */
  roles: ReadonlyArray<HelloMessage['role']>;
  wrongRole(role: HelloMessage['role']): string;
  allow: AllowList;
  handshakeTimeoutMs: number;
  maxPendingHandshakes: number;
  log: Logger;
  /** Every refusal, at accept or during a handshake (the listener emits it as its `refuse` event). */
  refused(event: RefuseEvent): void;
  /** An allowed peer said hello with our version and a role we serve. */
  hello(handshake: Handshake, role: HelloMessage['role']): ControlSession | void;
}

/** Listens on a Unix socket and runs every connection's handshake under one set of rules. */
export class ControlServer {
  readonly path: string;
  #options: ControlServerOptions;
  #fd: number;
  #watcher: NativeFdWatcher;
  /** Connections accepted and still in their handshake (what maxPendingHandshakes bounds), with what ends each. */
  #pending = new Map<ControlConnection, () => void>();
  #closed = false;

  constructor(options: ControlServerOptions) {
    this.#options = options;
    this.path = options.path;
    // The kernel's backlog is a second, coarser bound: connections it holds cost us nothing until accepted.
    this.#fd = native.unixListen(this.path, 64);
    this.#watcher = new native.FdWatcher(this.#fd, false, () => this.#accept());
    this.#watcher.start();
  }

  /** Handshakes in progress. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Stops accepting, removes the socket, and ends every connection still in its handshake. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher.close();
    native.closeFd(this.#fd);
    try {
      unlinkSync(this.path);
    } catch {
      // already gone: someone removed it, nothing to clean up
    }
    // Each with its timer: none fires (and reports a refusal) after close.
    for (const end of [...this.#pending.values()]) end();
  }

  #accept(): void {
    for (let accepted = 0; accepted < ACCEPTS_PER_TURN && !this.#closed; accepted++) {
      let peer: NativePeer | null;
      try {
        peer = native.unixAccept(this.#fd);
      } catch (error) {
        this.#options.log.warn({ err: error }, 'accept failed');
        return;
      }
      if (peer === null) return;
      if (this.#pending.size >= this.#options.maxPendingHandshakes) {
        this.#refuseAtAccept(peer, 'flood', `${this.#pending.size} handshakes in progress (maxPendingHandshakes); try again`);
      } else if (!this.#allowed(peer)) {
        // Credentials are known at accept: a peer not on the list gets no handshake slot, watcher or timer.
        this.#refuseAtAccept(peer, 'allow-list', `uid ${peer.uid} gid ${peer.gid} is not allowed on this ${this.#options.noun}`);
      } else {
        this.#handshake(peer);
      }
    }
  }

  /** One datagram into a fresh socket's buffer never blocks: say why, then close. */
  #refuseAtAccept(peer: NativePeer, reason: RefuseReason, message: string): void {
    try {
      native.unixSend(peer.fd, encodeControlMessage({ type: 'refused', reason, message }), []);
    } catch {
      // it already went away: nobody to tell
    }
    native.closeFd(peer.fd);
    this.#report(peer, reason);
  }

  #report(peer: NativePeer, reason: RefuseReason, detail?: string): void {
    this.#options.log.warn({ pid: peer.pid, uid: peer.uid, reason, ...(detail ? { detail } : {}) }, `${this.#options.noun}: connection refused`);
    this.#options.refused({ reason, pid: peer.pid, uid: peer.uid, ...(detail ? { detail } : {}) });
  }

  #allowed(peer: NativePeer): boolean {
    const { uids, gids } = this.#options.allow;
    return uids.includes(peer.uid) || gids.includes(peer.gid);
  }

  #handshake(peer: NativePeer): void {
    const options = this.#options;
    let session: ControlSession | null = null;
    let ended = false;
    let handedOver = false;
    const established = (): void => {
      clearTimeout(timer);
      this.#pending.delete(connection);
    };
    const end = (): void => {
      if (ended) return;
      ended = true;
      established();
      if (!handedOver) connection.close();
      session?.closed?.();
    };
    const tell = (reason: RefuseReason, message: string, detail?: string): void => {
      connection.trySend({ type: 'refused', reason, message });
      this.#report(peer, reason, detail);
    };
    const handshake: Handshake = {
      peer,
      get connection() {
        return connection;
      },
      refuse: (reason, message) => {
        tell(reason, message);
        end();
      },
      tell: (reason, message) => tell(reason, message),
      established,
      end,
      handOver: () => {
        established();
        handedOver = true;
        ended = true;
        return connection.detach();
      },
    };
    const connection = new ControlConnection(peer.fd, {
      message: (message, fds) => {
        if (session) {
          if (session.message) return session.message(message, fds);
          for (const fd of fds) native.closeFd(fd);
          return handshake.refuse('protocol', `unexpected ${message.type} on a ${options.noun}`);
        }
        for (const fd of fds) native.closeFd(fd); // a hello carries no descriptors
        if (message.type !== 'hello') return handshake.refuse('protocol', `expected hello, got ${message.type}`);
        if (message.version !== PROTOCOL_VERSION) {
          return handshake.refuse('version', `protocol version ${message.version} not supported (this ${options.noun} speaks ${PROTOCOL_VERSION})`);
        }
        if (!options.roles.includes(message.role)) return handshake.refuse('protocol', options.wrongRole(message.role));
        session = options.hello(handshake, message.role) ?? {};
      },
      violation: (detail) => {
        if (session?.violation) return session.violation(detail);
        tell('protocol', detail, detail);
      },
      closed: () => end(),
    });
    this.#pending.set(connection, end);
    const timer = setTimeout(() => {
      // A timer that expired while this process was not scheduled runs before
      // the poll that would have read the hello: look first, then time out.
      connection.readPending();
      if (!ended && session === null) handshake.refuse('timeout', `no hello within ${options.handshakeTimeoutMs} ms`);
    }, options.handshakeTimeoutMs);
    timer.unref();
  }
}
