// Point-to-point channel: the one-subscriber case, in both directions, with
// the socket-like semantics of the XenSocket paper. Each side owns the ring
// it writes (a bus of its own with exactly one subscriber: the other side)
// and reads the other side's. docs/protocol.md, "Point-to-point channels".
//
// Over a Unix socket both rings are set up over one control connection:
//
//   connector                              listener
//     hello {role: channel}        ---->
//                                  <----   welcome + fds of ring L->C
//     welcome + fds of ring C->L   ---->
//
// Between Xen domains each ring is a Xen bus (XenPublisher, read with
// Subscriber({ xen })), named NAME-READER in the writer's XenStore: the
// listener in domain L publishes NAME-C for each allowed domain C; the
// connector joins it, publishes NAME-L, and waits for the listener's join.
//
// shutdown() closes our write ring: the peer drains what we committed, then
// its recv() returns null. The side that owns a ring's pages frees them
// last: a memfd lives until its last mapping goes; a Xen writer keeps its
// grants until the peer has read everything and left (its reader leaves
// the slot as soon as it saw the end), the paper's orderly teardown.
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';

import { AddressError, parseAddress, unsupported } from './address.js';
import type { ChannelEvents, ChannelServerEvents } from './events.js';
import { ControlConnection, PROTOCOL_VERSION, type ControlMessage, type WelcomeMessage } from './control.js';
import { ControlServer, checkAllow, checkMaxPendingHandshakes, type Handshake } from './control/server.js';
import { RefusedError, RingcastError, abortError, invalidOption } from './errors.js';
import { resolveLogger, type Logger } from './logger.js';
import { native, type NativePeer } from './native.js';
import { checkCapacity, checkInteger, checkKnownOptions, checkSignal } from './options.js';
import { xenOwnDomid } from './providers/xen.js';
import { Publisher, wrapSystem, type PublishOptions } from './publisher.js';
import { duplexOf } from './streams.js';
import { Subscriber, isTransientRefusal, sleepFor, type ReceiveOptions } from './subscriber.js';

export interface ChannelOptions {
  /** Bytes of the ring each side writes (power of two, default 1 MiB; at most 1 MiB between Xen domains). */
  capacity?: number;
  /** Give up the setup after this long (default 5000 ms). */
  handshakeTimeoutMs?: number;
  /**
   * Listener only: peers allowed to connect, checked at accept. Unix: uids
   * and gids (default: this process's uid). Xen: `domids`, the domains that
   * may connect (required; each gets a ring of its own, published at listen).
   */
  allow?: { uids?: number[]; gids?: number[]; domids?: number[] };
  /** Listener only: connections still in their handshake at once; more are refused at accept (`flood`; default 16). */
  maxPendingHandshakes?: number;
  /**
   * Xen: how long shutdown() and close() wait for the peer to read what we
   * sent and leave before our ring's grants end (default 30000 ms; a peer
   * that leaves or dies ends the wait at once).
   */
  lingerMs?: number;
  signal?: AbortSignal;
  logger?: Logger;
}

/** Every option of Channel.connect and ChannelServer.listen: any other is refused (a typo would otherwise be ignored). */
const CHANNEL_OPTION_NAMES = [
  'capacity',
  'handshakeTimeoutMs',
  'allow',
  'maxPendingHandshakes',
  'lingerMs',
  'signal',
  'logger',
] as const satisfies ReadonlyArray<keyof ChannelOptions>;

/**
 * `options` of Channel.connect or ChannelServer.listen (`use`): an object
 * whose every key is a ChannelOptions one, and whose values for the rings
 * are valid; checked before anything connects or listens, since they are
 * used only once a peer is there (a listener's error would reach no caller).
 */
function checkChannelOptions(options: unknown, use: string): ChannelOptions {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', options, `an object (${use})`);
  checkKnownOptions(use, options, CHANNEL_OPTION_NAMES);
  const given = options as ChannelOptions;
  channelSettings(given);
  resolveLogger(given.logger, 'channel');
  return given;
}

/** The rings' settings of ChannelOptions with their defaults: every use reads them from here. */
function channelSettings(options: ChannelOptions): { capacity: number; handshakeTimeoutMs: number; lingerMs: number } {
  return {
    capacity: checkCapacity(options.capacity, 1 << 20),
    handshakeTimeoutMs: checkInteger('handshakeTimeoutMs', options.handshakeTimeoutMs, 5000, 1, 600_000),
    lingerMs: checkInteger('lingerMs', options.lingerMs, DEFAULT_XEN_LINGER_MS, 0, 600_000),
  };
}

/** How one end writes, ends its direction, and lets go: one per provider. */
interface ChannelWriter {
  /** Largest message one send carries; the Duplex cuts its bytes to fit (Infinity: the ring fragments). */
  readonly maxMessage: number;
  publish(message: Uint8Array, options?: PublishOptions): Promise<void>;
  publishBatch(messages: readonly Uint8Array[], options?: PublishOptions): Promise<void>;
  /** Ends our direction: the peer drains, then sees the end. */
  shutdown(): Promise<void>;
}

/** The longest channel name between Xen domains: its rings are the buses NAME-DOMID (32 characters at most). */
const XEN_CHANNEL_NAME_MAX = 26;
const DEFAULT_XEN_LINGER_MS = 30_000;

/** A channel's address: a socket path, or the listener's Xen domain and the channel's name. */
type ChannelAddress = { kind: 'unix'; path: string } | { kind: 'xen'; domid: number; name: string; text: string };

function channelAddress(address: string, use: string): ChannelAddress {
  const parsed = parseAddress(address);
  if (parsed.kind === 'unix') return { kind: 'unix', path: parsed.path };
  if (parsed.kind !== 'xen') throw unsupported(`${use} on the ${parsed.kind} bus ${address}`, 'a channel takes unix: and xen: addresses');
  if (parsed.slot !== undefined) throw new AddressError(address, 'slot', 'a channel has no slot (xen:DOMID/NAME)');
  if (parsed.bus.length > XEN_CHANNEL_NAME_MAX) {
    throw new AddressError(address, 'bus', `a channel name of at most ${XEN_CHANNEL_NAME_MAX} characters (its rings are the buses NAME-DOMID)`);
  }
  return { kind: 'xen', domid: parsed.publisher, name: parsed.bus, text: address };
}

/** The Xen bus of the ring `writer` writes for `reader` on channel `name`, in the writer's XenStore. */
function xenRingBus(name: string, reader: number): string {
  return `${name}-${reader}`;
}

/**
 * Our ring for `reader` on channel `name`: a Xen bus published from domain
 * `own`, granted to `reader` alone. Its one reader is its only victim: it
 * blocks like a socket, unbounded; close() lingers until the reader has read
 * everything and left (the paper's orderly teardown), or lingerMs.
 */
function xenRing(name: string, own: number, reader: number, capacity: number, lingerMs: number, logger: ChannelOptions['logger']): Promise<Publisher> {
  return Publisher.listen({
    address: `xen:${own}/${xenRingBus(name, reader)}`,
    xen: { receivers: [{ domid: reader }], lingerMs },
    capacity,
    evictAfterMs: 0,
    ...(logger !== undefined && { logger }),
  });
}

/** Resolves once `writer` has a subscriber (the peer joined our ring), or fails after timeoutMs. */
function peerJoined(writer: Publisher, timeoutMs: number, signal: AbortSignal | undefined, where: string): Promise<void> {
  if (writer.subscriberCount > 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const finish = (error: Error | null): void => {
      clearTimeout(timer);
      writer.off('subscribe', onJoin);
      signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve();
    };
    const onJoin = (): void => finish(null);
    const onAbort = (): void => finish(abortError(signal!));
    const timer = setTimeout(() => finish(new RingcastError('ERR_RINGCAST_HANDSHAKE', `${where}: the peer did not join our ring within ${timeoutMs} ms`)), timeoutMs);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    writer.on('subscribe', onJoin);
  });
}

/** One end of a point-to-point channel. Events: `end` (peer shut down its side), `close`. */
export class Channel extends EventEmitter<ChannelEvents> {
  #writer: ChannelWriter;
  #reader: Subscriber | null = null;
  /** Unix: the control connection both rings were set up over, and the peer's slot in our ring. */
  #connection: ControlConnection | null;
  #peerSlot: number | null = null;
  /** Xen: our ring's publisher, closed last (its linger waits for the peer to leave). */
  #xenWriter: Publisher | null = null;
  /** The peer shut down and we read everything: recv() answers null from now on. */
  #ended = false;
  #closing: Promise<void> | null = null;
  #readerReady: ((message: WelcomeMessage, fds: number[]) => void) | null = null;
  #setupFailed: ((error: Error) => void) | null = null;

  private constructor(writer: ChannelWriter, connection: ControlConnection | null) {
    super();
    this.#writer = writer;
    this.#connection = connection;
  }

  /**
   * Connects to a channel listener at `address` (docs/addresses.md):
   * `unix:PATH` (or a bare path), or `xen:DOMID/NAME`, the listener's domain
   * and the channel's name.
   */
  static async connect(address: string, options: ChannelOptions = {}): Promise<Channel> {
    const target = channelAddress(address, 'Channel.connect');
    checkChannelOptions(options, 'Channel.connect');
    const signal = checkSignal(options.signal);
    if (target.kind === 'xen') return Channel.#connectXen(target, options, signal);
    // As Subscriber.connect: a refusal that says "try again" (flood: the
    // listener is busy with other handshakes, slow or hostile ones) is retried
    // with growing pauses until handshakeTimeoutMs is spent.
    const deadline = performance.now() + channelSettings(options).handshakeTimeoutMs;
    for (let pause = 5; ; pause = Math.min(pause * 2, 200)) {
      try {
        const left = Math.max(1, Math.ceil(deadline - performance.now()));
        return await Channel.#connectUnix(target.path, { ...options, handshakeTimeoutMs: left }, signal);
      } catch (error) {
        if (!isTransientRefusal(error) || performance.now() + pause >= deadline) throw error;
        await sleepFor(pause, signal);
      }
    }
  }

  static async #connectUnix(path: string, options: ChannelOptions, signal: AbortSignal | undefined): Promise<Channel> {
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

  /**
   * Xen, connector's side: publish our ring for the listener (which tells us
   * our domain id, the name of the listener's ring for us), join the
   * listener's ring (waiting while it is not published yet), and wait for
   * the listener's join, so nothing we send is written before it reads.
   */
  static async #connectXen(target: Extract<ChannelAddress, { kind: 'xen' }>, options: ChannelOptions, signal: AbortSignal | undefined): Promise<Channel> {
    const { handshakeTimeoutMs: timeoutMs, lingerMs, capacity } = channelSettings(options);
    // The listener names its ring for us by our domain id.
    const writer = await xenRing(target.name, xenOwnDomid(`channel ${target.text}`), target.domid, capacity, lingerMs, options.logger);
    let reader: Subscriber | null = null;
    try {
      reader = await Subscriber.connect({
        xen: { bus: xenRingBus(target.name, writer.xen!.domid), publisher: target.domid },
        handshakeTimeoutMs: timeoutMs,
        logger: options.logger,
        ...(signal ? { signal } : {}),
      });
      await peerJoined(writer, timeoutMs, signal, `channel ${target.text}`);
    } catch (error) {
      await reader?.close();
      await writer.close();
      throw error;
    }
    return Channel._fromXen(writer, reader);
  }

  /** @internal A Xen channel end, once both rings are joined. */
  static _fromXen(writer: Publisher, reader: Subscriber): Channel {
    let shutdown: Promise<void> | null = null;
    const channel = new Channel(
      {
        maxMessage: writer.maxPayload,
        publish: (message, options) => writer.publish(message, options),
        publishBatch: (messages, options) => writer.publishBatch(messages, options),
        shutdown: () => (shutdown ??= writer.close()),
      },
      null,
    );
    channel.#xenWriter = writer;
    channel.#adoptReader(reader, true);
    return channel;
  }

  /** @internal The listener's half, once ChannelServer accepted the peer's hello. */
  static _accept(path: string, fd: number, peer: NativePeer, options: ChannelOptions): Promise<Channel> {
    return Channel.#setup(path, fd, peer, options, undefined, () => undefined);
  }

  /** Unix, both sides: make our write ring, offer it to the peer, and map the peer's. */
  static async #setup(
    path: string,
    fd: number,
    peer: NativePeer,
    options: ChannelOptions,
    signal: AbortSignal | undefined,
    start: (connection: ControlConnection) => void,
  ): Promise<Channel> {
    const { capacity, handshakeTimeoutMs: timeoutMs } = channelSettings(options);
    let channel: Channel | undefined;
    let connection: ControlConnection;
    try {
      connection = new ControlConnection(fd, {
        // Until the channel exists there is nothing to tell: a failed setup closes the connection.
        message: (message, fds) => {
          if (channel) channel.#onControl(message, fds);
        },
        violation: (detail) => {
          if (channel) channel.#setupFailed?.(new RingcastError('ERR_RINGCAST_HANDSHAKE', detail));
        },
        closed: () => {
          if (channel) channel.#onClosed();
        },
      });
    } catch (error) {
      native.closeFd(fd);
      throw error;
    }
    let writer: Publisher;
    try {
      // A channel's one reader is its only victim: it blocks like a socket, unbounded.
      writer = await Publisher.listen({ path, listen: false, capacity, maxSubscribers: 1, evictAfterMs: 0, logger: options.logger });
    } catch (error) {
      connection.close();
      throw error;
    }
    channel = new Channel(
      {
        maxMessage: Infinity,
        publish: (message, o) => writer.publish(message, o),
        publishBatch: (messages, o) => writer.publishBatch(messages, o),
        shutdown: () => writer.close(),
      },
      connection,
    );
    try {
      const welcomed = channel.#awaitWelcome(timeoutMs, signal);
      start(connection);
      channel.#peerSlot = writer._attachPeer(connection, peer);
      if (channel.#peerSlot === null) throw new RingcastError('ERR_RINGCAST_HANDSHAKE', 'could not offer our ring');
      channel.#releasePeer = (detached) => {
        if (channel!.#peerSlot !== null) writer._releasePeer(channel!.#peerSlot, detached);
        channel!.#peerSlot = null;
      };
      const { message, fds } = await welcomed;
      channel.#adoptReader(Subscriber._fromWelcome({ path, logger: options.logger }, connection, message, fds), false);
      return channel;
    } catch (error) {
      connection.close();
      await writer.close();
      throw error;
    }
  }

  /** Unix: our ring lets the peer's slot go (`detached`: it said so; else its connection closed). */
  #releasePeer: (detached: boolean) => void = () => undefined;

  /** `leaveAtEnd`: leave the peer's ring once we read its end, so that its writer may free its pages. */
  #adoptReader(reader: Subscriber, leaveAtEnd: boolean): void {
    this.#reader = reader;
    reader.on('end', () => {
      this.#ended = true;
      // After the read that saw the end has returned (close() must not pull the reader from under it).
      if (leaveAtEnd) setImmediate(() => void reader.close());
      this.emit('end');
    });
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
    if (message.type === 'detach') {
      // The peer stopped reading: our ring no longer waits for it.
      this.#releasePeer(true);
    } else if (message.type === 'refused') {
      this.#setupFailed?.(new RefusedError(message.reason, message.message));
    } else {
      this.#setupFailed?.(new RingcastError('ERR_RINGCAST_HANDSHAKE', `unexpected ${message.type} on a channel`));
    }
  }

  #onClosed(): void {
    this.#setupFailed?.(new RingcastError('ERR_RINGCAST_HANDSHAKE', 'peer closed the channel during setup'));
    this.#reader?._peerClosed();
    this.#releasePeer(false);
  }

  /**
   * Sends one message, waiting while the peer's unread data fills our ring;
   * a message larger than a record is fragmented, as on any bus.
   */
  send(message: Uint8Array, options?: PublishOptions): Promise<void> {
    return this.#writer.publish(message, options);
  }

  sendBatch(messages: readonly Uint8Array[], options?: PublishOptions): Promise<void> {
    return this.#writer.publishBatch(messages, options);
  }

  /** The largest message send() takes (Infinity where the ring fragments: Unix sockets). */
  get maxMessage(): number {
    return this.#writer.maxMessage;
  }

  /** The next message from the peer; null once the peer shut down and all was read. */
  recv(options?: ReceiveOptions): Promise<Buffer | null> {
    if (this.#ended) return Promise.resolve(null);
    return this.#reader!.recv(options);
  }

  tryRecv(): Buffer | null | undefined {
    if (this.#ended) return null;
    return this.#reader!.tryRecv();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (let message = await this.recv(); message !== null; message = await this.recv()) yield message;
  }

  /**
   * Ends our direction: the peer reads what we sent, then sees the end.
   * Reading goes on. Between Xen domains it resolves once the peer has read
   * everything and left our ring (or after `lingerMs`).
   */
  shutdown(): Promise<void> {
    return this.#writer.shutdown();
  }

  /** A byte-stream Duplex: writes become messages (cut to maxMessage), ending it shuts our direction down. */
  createDuplex(): Duplex {
    const max = this.#writer.maxMessage;
    const cut = (message: Uint8Array): Uint8Array[] => {
      if (message.length <= max) return [message];
      const pieces: Uint8Array[] = [];
      for (let at = 0; at < message.length; at += max) pieces.push(message.subarray(at, Math.min(message.length, at + max)));
      return pieces;
    };
    return duplexOf(
      this,
      {
        publish: (m) => (m.length <= max ? this.send(m) : this.sendBatch(cut(m))),
        publishBatch: (ms) => this.sendBatch(ms.flatMap(cut)),
      },
      () => this.shutdown(),
    );
  }

  /** Shuts down our direction, stops reading, and releases everything. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#xenWriter) {
        // Leave the peer's ring first: its writer's linger ends, as ours does when the peer does the same.
        await this.#reader?.close();
        await this.#writer.shutdown();
      } else {
        await this.#writer.shutdown();
        await this.#reader?.close();
        this.#connection?.close();
      }
      this.emit('close');
    })();
    return this.#closing;
  }
}

/**
 * Accepts channels at an address: a Unix socket, under the rules a bus's
 * Publisher accepts subscribers with (src/control/server.ts: the allow list
 * at accept, maxPendingHandshakes, the handshake timer), or a Xen channel
 * name, with one ring published for each allowed domain. Events: `refuse`
 * (`{ reason, pid, uid }`; between Xen domains `{ reason, domid }`, pid and
 * uid 0) for every connection turned down.
 */
export class ChannelServer extends EventEmitter<ChannelServerEvents> {
  /** The socket path, or the Xen address the server was given. */
  readonly path: string;
  #server: ControlServer | null = null;
  #options: ChannelOptions;
  #ready: Channel[] = [];
  #waiters: Array<{ resolve: (channel: Channel) => void; reject: (error: Error) => void }> = [];
  #closed = false;
  #log: Logger;
  /** Xen: per allowed domain, the ring published for its next connection (null while one is connected). */
  #xenRings = new Map<number, Publisher | null>();
  #xen: Extract<ChannelAddress, { kind: 'xen' }> | null = null;

  private constructor(target: ChannelAddress, options: ChannelOptions) {
    super();
    this.#options = options;
    this.#log = resolveLogger(options.logger, 'channel');
    const { handshakeTimeoutMs } = channelSettings(options);
    if (target.kind === 'xen') {
      this.path = target.text;
      this.#xen = target;
      return;
    }
    this.path = target.path;
    const given = options.allow as ChannelOptions['allow'] | null;
    if (typeof given === 'object' && given?.domids !== undefined) throw invalidOption('allow.domids', given.domids, 'no value with a unix: address (uids, gids)');
    const allow = checkAllow(given);
    const maxPendingHandshakes = checkMaxPendingHandshakes(options.maxPendingHandshakes);
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

  /**
   * Accepts channels at `address` (docs/addresses.md): `unix:PATH` (or a
   * bare path), or `xen:DOMID/NAME` in domain DOMID, where `allow.domids`
   * names the domains that may connect.
   */
  static async listen(address: string, options: ChannelOptions = {}): Promise<ChannelServer> {
    const server = new ChannelServer(channelAddress(address, 'ChannelServer.listen'), checkChannelOptions(options, 'ChannelServer.listen'));
    if (server.#xen) {
      const domids = checkDomids(options.allow);
      try {
        for (const domid of domids) await server.#armXen(domid);
      } catch (error) {
        await server.close();
        throw error;
      }
    }
    return server;
  }

  /** The next connected channel. */
  accept(options?: { signal?: AbortSignal }): Promise<Channel> {
    const signal = checkSignal(options?.signal);
    // An 'abort' listener added to a signal that already fired never runs.
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const ready = this.#ready.shift();
    if (ready) return Promise.resolve(ready);
    if (this.#closed) return Promise.reject(new RingcastError('ERR_RINGCAST_CLOSED', 'channel server is closed'));
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(abortError(signal!));
      };
      const settled = (): void => signal?.removeEventListener('abort', onAbort);
      const waiter = {
        resolve: (channel: Channel): void => {
          settled();
          resolve(channel);
        },
        reject: (error: Error): void => {
          settled();
          reject(error);
        },
      };
      this.#waiters.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#server?.close();
    for (const waiter of this.#waiters) waiter.reject(new RingcastError('ERR_RINGCAST_CLOSED', 'channel server is closed'));
    this.#waiters = [];
    const rings = [...this.#xenRings.values()];
    this.#xenRings.clear();
    for (const ring of rings) await ring?.close();
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

  /**
   * Xen: publishes the ring for `domid`'s next connection (bus NAME-DOMID in
   * our XenStore, readable by that domain alone). Its join is the connect:
   * we then join the ring it published for us and hand the channel out.
   */
  async #armXen(domid: number): Promise<void> {
    const { name, domid: own, text } = this.#xen!;
    const { capacity, handshakeTimeoutMs: timeoutMs, lingerMs } = channelSettings(this.#options);
    const mine = xenOwnDomid(`channel ${text}`);
    if (mine !== own) throw new AddressError(text, 'domain', `a channel listens in its own domain: this is domain ${mine}`);
    const writer = await xenRing(name, own, domid, capacity, lingerMs, this.#options.logger);
    this.#xenRings.set(domid, writer);
    writer.on('refuse', (event) => this.emit('refuse', { reason: event.reason, pid: 0, uid: 0, ...(event.domid !== undefined && { domid: event.domid }) }));
    writer.once('subscribe', () => {
      this.#xenRings.set(domid, null);
      Subscriber.connect({ xen: { bus: xenRingBus(name, own), publisher: domid }, handshakeTimeoutMs: timeoutMs, logger: this.#options.logger }).then(
        (reader) => {
          const channel = Channel._fromXen(writer, reader);
          // One connection per domain at a time: the next is served once this one is closed.
          channel.once('close', () => this.#rearmXen(domid));
          this.#deliver(channel);
        },
        (error: unknown) => {
          this.#log.warn({ err: error, domid }, 'channel setup failed');
          this.emit('refuse', { reason: 'timeout', pid: 0, uid: 0, domid, detail: (error as Error).message });
          void writer.close().then(() => this.#rearmXen(domid));
        },
      );
    });
  }

  #rearmXen(domid: number): void {
    if (this.#closed || !this.#xenRings.has(domid)) return;
    this.#armXen(domid).catch((error: unknown) => this.#log.error({ err: error, domid }, 'cannot serve the next channel'));
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

/** `allow.domids` of a Xen listener: required, 1 to 8 distinct domain ids. */
function checkDomids(allow: ChannelOptions['allow']): number[] {
  const domids = allow?.domids;
  if (allow?.uids !== undefined || allow?.gids !== undefined) throw invalidOption('allow', allow, '{ domids } with a xen: address (uids and gids are for unix:)');
  if (!Array.isArray(domids) || domids.length === 0 || domids.length > 8 || new Set(domids).size !== domids.length ||
    !domids.every((d) => Number.isInteger(d) && d >= 0 && d <= 0x7fef)) {
    throw invalidOption('allow.domids', domids, 'an array of 1 to 8 distinct domain ids (the domains that may connect)');
  }
  return domids;
}
