// Point-to-point channel: the one-subscriber case, in both directions, with
// the socket-like semantics of the XenSocket paper. Each side owns the ring
// it writes (a bus of its own with exactly one subscriber: the other side),
// and both rings are set up over one control connection:
//
//   connector                              listener
//     hello {role: channel}        ---->
//                                  <----   welcome + fds of ring L->C
//     welcome + fds of ring C->L   ---->
//
// shutdown() closes our write ring: the peer drains what we committed, then
// its recv() returns null. The side that owns a ring's pages is torn down
// last by construction: the memfd lives until its last mapping goes.
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';

import { socketAddress } from './address.js';
import type { ChannelEvents, ChannelServerEvents } from './events.js';
import { ControlConnection, PROTOCOL_VERSION, type ControlMessage, type WelcomeMessage } from './control.js';
import { ControlServer, checkAllow, checkMaxPendingHandshakes, type Handshake } from './control/server.js';
import { RefusedError, RingcastError, abortError } from './errors.js';
import { resolveLogger, type Logger } from './logger.js';
import { native, type NativePeer } from './native.js';
import { checkCapacity, checkInteger, checkSignal } from './options.js';
import { Publisher, wrapSystem, type PublishOptions } from './publisher.js';
import { duplexOf } from './streams.js';
import { Subscriber, type ReceiveOptions } from './subscriber.js';

export interface ChannelOptions {
  /** Bytes of the ring each side writes (power of two, default 1 MiB). */
  capacity?: number;
  /** Give up the setup after this long (default 5000 ms). */
  handshakeTimeoutMs?: number;
  /** Listener only: peers allowed to connect, checked at accept (default: this process's uid). */
  allow?: { uids?: number[]; gids?: number[] };
  /** Listener only: connections still in their handshake at once; more are refused at accept (`flood`; default 16). */
  maxPendingHandshakes?: number;
  signal?: AbortSignal;
  logger?: Logger;
}

/** One end of a point-to-point channel. Events: `end` (peer shut down its side), `close`. */
export class Channel extends EventEmitter<ChannelEvents> {
  #connection: ControlConnection;
  #writer: Publisher;
  #reader: Subscriber | null = null;
  #peerSlot: number | null = null;
  #closing: Promise<void> | null = null;
  #readerReady: ((message: WelcomeMessage, fds: number[]) => void) | null = null;
  #setupFailed: ((error: Error) => void) | null = null;

  private constructor(connection: ControlConnection, writer: Publisher) {
    super();
    this.#connection = connection;
    this.#writer = writer;
  }

  /** Connects to a channel listener at `address` (`unix:PATH` or a bare path; docs/addresses.md). */
  static async connect(address: string, options: ChannelOptions = {}): Promise<Channel> {
    const path = socketAddress(address, 'Channel.connect');
    const signal = checkSignal(options.signal);
    let fd: number;
    try {
      fd = native.unixConnect(path);
    } catch (error) {
      throw wrapSystem(error, `cannot connect to channel ${path}`);
    }
    let peer: NativePeer;
    try {
      peer = native.peerCredentials(fd);
    } catch (error) {
      native.closeFd(fd);
      throw wrapSystem(error, 'peer credentials');
    }
    const channel = await Channel.#setup(path, fd, peer, options, signal, (connection) =>
      // A peer that refuses at once may close before our hello lands: its answer still waits for us.
      connection.trySend({ type: 'hello', version: PROTOCOL_VERSION, role: 'channel' }),
    );
    return channel;
  }

  /** @internal The listener's half, once ChannelServer accepted the peer's hello. */
  static _accept(path: string, fd: number, peer: NativePeer, options: ChannelOptions): Promise<Channel> {
    return Channel.#setup(path, fd, peer, options, undefined, () => undefined);
  }

  /** Both sides: make our write ring, offer it to the peer, and map the peer's. */
  static async #setup(
    path: string,
    fd: number,
    peer: NativePeer,
    options: ChannelOptions,
    signal: AbortSignal | undefined,
    start: (connection: ControlConnection) => void,
  ): Promise<Channel> {
    const capacity = checkCapacity(options.capacity, 1 << 20);
    const timeoutMs = checkInteger('handshakeTimeoutMs', options.handshakeTimeoutMs, 5000, 1, 600_000);
    let channel: Channel | undefined;
    const connection = new ControlConnection(fd, {
      message: (message, fds) => channel!.#onControl(message, fds),
      violation: (detail) => channel!.#setupFailed?.(new RingcastError('ERR_RINGCAST_HANDSHAKE', detail)),
      closed: () => channel!.#onClosed(),
    });
    // A channel's one reader is its only victim: it blocks like a socket, unbounded.
    const writer = await Publisher.listen({ path, listen: false, capacity, maxSubscribers: 1, evictAfterMs: 0, logger: options.logger });
    channel = new Channel(connection, writer);
    try {
      const welcomed = channel.#awaitWelcome(timeoutMs, signal);
      start(connection);
      if (channel.#offerWriteRing(peer) === null) throw new RingcastError('ERR_RINGCAST_HANDSHAKE', 'could not offer our ring');
      const { message, fds } = await welcomed;
      channel.#reader = Subscriber._fromWelcome({ path, logger: options.logger }, connection, message, fds);
      channel.#reader.on('end', () => channel!.emit('end'));
      return channel;
    } catch (error) {
      connection.close();
      await writer.close();
      throw error;
    }
  }

  #offerWriteRing(peer: NativePeer): number | null {
    this.#peerSlot = this.#writer._attachPeer(this.#connection, peer);
    return this.#peerSlot;
  }

  #awaitWelcome(timeoutMs: number, signal: AbortSignal | undefined): Promise<{ message: WelcomeMessage; fds: number[] }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new RingcastError('ERR_RINGCAST_HANDSHAKE', `no channel welcome within ${timeoutMs} ms`)), timeoutMs);
      const onAbort = (): void => finish(abortError(signal!));
      const finish = (error: Error | null, value?: { message: WelcomeMessage; fds: number[] }): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#readerReady = null;
        this.#setupFailed = null;
        if (error) reject(error);
        else resolve(value!);
      };
      if (signal?.aborted) return finish(abortError(signal));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#readerReady = (message, fds) => finish(null, { message, fds });
      this.#setupFailed = (error) => finish(error);
    });
  }

  #onControl(message: ControlMessage, fds: number[]): void {
    if (message.type === 'welcome' && this.#readerReady && fds.length === 4) return this.#readerReady(message, fds);
    for (const fd of fds) native.closeFd(fd);
    if (message.type === 'detach' && this.#peerSlot !== null) {
      // The peer stopped reading: our ring no longer waits for it.
      this.#writer._releasePeer(this.#peerSlot, true);
      this.#peerSlot = null;
    } else if (message.type === 'refused') {
      this.#setupFailed?.(new RefusedError(message.reason, message.message));
    } else {
      this.#setupFailed?.(new RingcastError('ERR_RINGCAST_HANDSHAKE', `unexpected ${message.type} on a channel`));
    }
  }

  #onClosed(): void {
    this.#setupFailed?.(new RingcastError('ERR_RINGCAST_HANDSHAKE', 'peer closed the channel during setup'));
    this.#reader?._peerClosed();
    if (this.#peerSlot !== null) this.#writer._releasePeer(this.#peerSlot, false);
    this.#peerSlot = null;
  }

  /** Sends one message, waiting while the peer's unread data fills our ring. */
  send(message: Uint8Array, options?: PublishOptions): Promise<void> {
    return this.#writer.publish(message, options);
  }

  sendBatch(messages: readonly Uint8Array[], options?: PublishOptions): Promise<void> {
    return this.#writer.publishBatch(messages, options);
  }

  /** The next message from the peer; null once the peer shut down and all was read. */
  recv(options?: ReceiveOptions): Promise<Buffer | null> {
    return this.#reader!.recv(options);
  }

  tryRecv(): Buffer | null | undefined {
    return this.#reader!.tryRecv();
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return this.#reader![Symbol.asyncIterator]();
  }

  /** Ends our direction: the peer reads what we sent, then sees the end. Reading goes on. */
  shutdown(): Promise<void> {
    return this.#writer.close();
  }

  /** A byte-stream Duplex: writes become messages, ending it shuts our direction down. */
  createDuplex(): Duplex {
    return duplexOf(this, { publish: (m) => this.send(m), publishBatch: (m) => this.sendBatch(m) }, () => this.shutdown());
  }

  /** Shuts down our direction, stops reading, and releases everything. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#writer.close();
      await this.#reader?.close();
      this.#connection.close();
      this.emit('close');
    })();
    return this.#closing;
  }
}

/**
 * Accepts channels at a socket path, under the rules a bus's Publisher
 * accepts subscribers with (src/control/server.ts): the allow list at accept,
 * maxPendingHandshakes, the handshake timer. Events: `refuse` (`{ reason,
 * pid, uid }`) for every connection turned down.
 */
export class ChannelServer extends EventEmitter<ChannelServerEvents> {
  readonly path: string;
  #server: ControlServer;
  #options: ChannelOptions;
  #ready: Channel[] = [];
  #waiters: Array<{ resolve: (channel: Channel) => void; reject: (error: Error) => void }> = [];
  #closed = false;
  #log: Logger;

  private constructor(address: string, options: ChannelOptions) {
    super();
    this.path = socketAddress(address, 'ChannelServer.listen');
    this.#options = options;
    const allow = checkAllow(options.allow);
    const handshakeTimeoutMs = checkInteger('handshakeTimeoutMs', options.handshakeTimeoutMs, 5000, 1, 600_000);
    const maxPendingHandshakes = checkMaxPendingHandshakes(options.maxPendingHandshakes);
    this.#log = resolveLogger(options.logger, 'channel');
    try {
      this.#server = new ControlServer({
        path: this.path,
        noun: 'channel',
        roles: ['channel'],
        wrongRole: () => 'expected a channel hello (this is a channel server; use Channel.connect)',
        allow,
        handshakeTimeoutMs,
        maxPendingHandshakes,
        log: this.#log,
        refused: (event) => this.emit('refuse', event),
        hello: (handshake) => this.#hello(handshake),
      });
    } catch (error) {
      throw wrapSystem(error, `cannot listen on ${this.path}`);
    }
  }

  /** Accepts channels at `address` (`unix:PATH` or a bare path; docs/addresses.md). */
  static async listen(address: string, options: ChannelOptions = {}): Promise<ChannelServer> {
    return new ChannelServer(address, options);
  }

  /** The next connected channel. */
  accept(options?: { signal?: AbortSignal }): Promise<Channel> {
    const signal = checkSignal(options?.signal);
    const ready = this.#ready.shift();
    if (ready) return Promise.resolve(ready);
    if (this.#closed) return Promise.reject(new RingcastError('ERR_RINGCAST_CLOSED', 'channel server is closed'));
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      this.#waiters.push(waiter);
      signal?.addEventListener(
        'abort',
        () => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          reject(abortError(signal));
        },
        { once: true },
      );
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.close();
    for (const waiter of this.#waiters) waiter.reject(new RingcastError('ERR_RINGCAST_CLOSED', 'channel server is closed'));
    this.#waiters = [];
  }

  /** The peer's hello was accepted: the channel takes the socket over and sets both rings up. */
  #hello(handshake: Handshake): void {
    const { peer } = handshake;
    // The connector's welcome may already be queued behind the hello and must be left for the channel.
    const fd = handshake.handOver();
    Channel._accept(this.path, fd, peer, this.#options).then(
      (channel) => this.#deliver(channel),
      (error: unknown) => this.#log.warn({ err: error, pid: peer.pid }, 'channel setup failed'),
    );
  }

  #deliver(channel: Channel): void {
    if (this.#closed) {
      void channel.close();
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(channel);
    else this.#ready.push(channel);
  }
}
