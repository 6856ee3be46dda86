// The subscriber: maps the ring read-only, writes only its own ack page.
import { Buffer } from 'node:buffer';
import { EventEmitter } from 'node:events';
import { constants as osConstants } from 'node:os';
import { Readable } from 'node:stream';

import type { SubscriberEvents } from './events.js';
import { ControlConnection, PROTOCOL_VERSION, type ControlMessage, type WelcomeMessage } from './control.js';
import { reportEvent, track, untrack } from './diagnostics.js';
import { forget, hold, pending, releaseIfLeaked, weakly, type Leftovers } from './leaks.js';
import {
  EvictedError,
  PublisherAbortedError,
  PublisherGoneError,
  RefusedError,
  RingcastError,
  abortError,
  closedError,
  invalidOption,
  type EvictionReason,
} from './errors.js';
import { resolveLogger, type Logger } from './logger.js';
import type { SharedMemoryAttachment, SharedMemoryRoute } from './attachment.js';
import { resolveSubscriberAddress } from './address.js';
import { ivshmemRoute, type IvshmemSubscribeOptions } from './providers/ivshmem.js';
import { xenRoute, type XenSubscribeOptions } from './providers/xen.js';
import { C, native, type NativeFdWatcher, type NativeSleep, type NativeReadSmall, type NativeSubscriber } from './native.js';
import { MAX_BUFFER_LENGTH, checkInteger, checkKnownOptions, checkPath, checkSignal, optionNames } from './options.js';
import { LAG_SETTLE_MS, wrapSystem } from './publisher.js';
import { readableFrom, type StreamOptions } from './streams.js';
// recvSync() names what it cannot do yet the way addresses do.
import { unsupported } from './address.js';

export interface SubscriberOptions {
  /**
   * The bus's address (docs/addresses.md): `unix:PATH` or a bare path,
   * `ivshmem:RING?ack=FILE&doorbell=DEVICE` (or `&server=SOCKET` on a host),
   * `xen:DOMID/BUS[/SLOT]`. The `ivshmem` and `xen` options then give only
   * what the address cannot say (publisherTimeoutMs, manual). Not with `path`.
   */
  address?: string;
  /** Path of the bus's Unix socket, taken as it is (not with `address`, `ivshmem` or `xen`). */
  path?: string;
  /**
   * Attach from a KVM/QEMU guest through ivshmem instead of a socket: the
   * ring's and this guest's ack page's devices and the doorbell device (or, on
   * a host standing in for a guest, the files and the ivshmem server's
   * socket). The join goes through shared memory (docs/protocol.md); it
   * times out after `handshakeTimeoutMs`. `close()` gives the slot back.
   */
  ivshmem?: IvshmemSubscribeOptions;
  /**
   * Attach from a Xen domain to a bus a Publisher publishes (`xen:` address) in another
   * domain: grant tables and an event channel, found through XenStore (or a
   * manual line). The lookup and the join each time out after
   * `handshakeTimeoutMs`. `close()` gives the slot back. docs/xen.md.
   */
  xen?: XenSubscribeOptions;
  /** Most bytes one batch copy takes from the ring (default 1 MiB; at least maxPayload). */
  batchBytes?: number;
  /**
   * Largest fragmented message this subscriber accepts (default 64 MiB; the
   * publisher's declared `maxMessageBytes` caps it further). A message declaring
   * more in its first fragment fails the subscriber with ERR_RINGCAST_CORRUPT
   * before anything of it is allocated, as does one whose fragments add up to
   * more than it declared. A message that fits one record (at most the
   * publisher's `maxPayload`) is not fragmented and is delivered whatever its
   * length: a cap below `maxPayload` does not bound it. Messages of 32 MiB or
   * more read through the copy API get a Buffer in a mapping of their own,
   * which is kept for a later message once the Buffer is collected: at most
   * 128 MiB per process.
   */
  maxMessageBytes?: number;
  /** Busy-poll this long before sleeping on the doorbell (default 0: sleep at once). */
  spinMicros?: number;
  /** On eviction, re-attach at the live head and emit `gap` instead of failing (default false). */
  rejoin?: boolean;
  /** Bump the ack page's heartbeat this often, for publishers that watch it (default 250 ms). */
  heartbeatMs?: number;
  /** Give up the attach after this long (default 5000 ms). */
  handshakeTimeoutMs?: number;
  signal?: AbortSignal;
  /** pino logger for lifecycle events; silent by default. */
  logger?: Logger;
  /** @internal Hand out each message's envelope on a bridged bus (bridges only). */
  keepEnvelopes?: boolean;
}

/** Every option of Subscriber.connect: any other is refused (a typo would otherwise be ignored). */
const BATCHES_OPTION_NAMES = optionNames<BatchesOptions>({ signal: true, reuseBuffer: true });

const SUBSCRIBER_OPTION_NAMES = optionNames<SubscriberOptions>({
  address: true,
  path: true,
  ivshmem: true,
  xen: true,
  batchBytes: true,
  maxMessageBytes: true,
  spinMicros: true,
  rejoin: true,
  heartbeatMs: true,
  handshakeTimeoutMs: true,
  signal: true,
  logger: true,
  keepEnvelopes: true,
});

export interface ReceiveOptions {
  signal?: AbortSignal;
}

export interface ReceiveSyncOptions {
  /** Give up after this long (default -1: no limit). */
  timeoutMs?: number;
}

export interface BatchesOptions extends ReceiveOptions {
  /**
   * Copy every batch into one buffer that this iterator reuses, instead of a
   * new buffer per batch (default false). Each message handed over is then
   * valid only until the iterator's next step: copy what you keep
   * (`Buffer.from(message)`). Nothing is allocated per batch but the array
   * and the views not made before (a message where one at its index was,
   * as long, comes as that same Buffer again), so a fast stream makes no memory for the garbage
   * collector to reclaim, and the buffer stays in the cache
   * (docs/protocol.md, "Copy"). A fragmented message is copied into a
   * second buffer the iterator reuses, valid until its next step too.
   */
  reuseBuffer?: boolean;
}

export interface SubscriberStatsSnapshot {
  slot: number;
  /** Messages handed to the application. */
  delivered: number;
  deliveredBytes: number;
  /** Bus position read up to. */
  position: number;
  head: number;
  lagBytes: number;
  /** Messages copied out of the ring but not yet taken by recv(). */
  buffered: number;
  evictions: number;
  /** Bytes lost: each eviction's or lap's range when it is reported, the rest of the gap at its rejoin. */
  lostBytes: number;
  /** Messages lost: each eviction's count when it is reported (a lap's at its rejoin), the rest of the gap at its rejoin. */
  lostMessages: number;
}

/** Where this subscriber stands with the publisher. */
export type SubscriptionState = 'active' | 'lagging' | 'evicted' | 'rejoining' | 'closed';

/** The `gap` event: what an eviction cost, reported after the rejoin. */
export interface GapEvent {
  reason: EvictionReason;
  lostFrom: number;
  lostTo: number;
  lostBytes: number;
  /** Messages published while this subscriber was evicted. */
  lostMessages: number;
}

/**
 * What one batches({ reuseBuffer: true }) iterator lends out: the buffer every
 * batch is copied into, and the one fragmented messages are (grown as needed).
 */
interface LentBuffers {
  batch: Buffer;
  message: Buffer | null;
  /**
   * The views into `batch` handed out so far, by index in their batch. A
   * message that starts where the one at its index did and is as long gets
   * that view again: messages of one size fill the buffer at the same
   * offsets step after step, and making a Buffer per message was a fifth of
   * the iterator's time per 1 KiB message (bench/read-apis.mjs). One per
   * index from 0 to its length, each as the last read that reached its index
   * laid it out, which is what the addon's read() compares with (#fillLent).
   */
  views: Buffer[];
}

/** A read parked on the doorbell (#receive): what it takes, how it resolves, and what to undo. */
interface ParkedRead<T, R> {
  next: () => T | null | undefined;
  shape: (value: T | null) => R;
  signal: AbortSignal | undefined;
  resolve: (value: R | Promise<R>) => void;
  reject: (error: unknown) => void;
  onAbort?: () => void;
}

const asIs = <T>(value: T): T => value;

/** Zero-copy handler: `view` is valid only during the call. */
export type PollHandler = (view: Uint8Array, seq: number) => void;

const EVICT_REASONS: Record<number, EvictionReason> = {
  [C.RC_EVICT_SLOW]: 'slow',
  [C.RC_EVICT_PROTOCOL]: 'protocol',
  [C.RC_EVICT_DEAD]: 'dead',
  [C.RC_EVICT_CLOSED]: 'closed',
};

const { META_STRIDE, MAX_BATCH, LARGE_MESSAGE_FROM } = C;

/**
 * Ready messages up to this many, within SMALL_READ_BYTES of the ring, are
 * copied out through a reused scratch buffer into Buffers of their own from
 * Node's pool (Buffer.allocUnsafe takes those below half its 8 KiB pool
 * without a malloc): a lone 64-byte message costs about 0.3 µs this way
 * against 1.1 µs in a batch buffer of its own (tryRecv() after offer(), in
 * one process), most of a busy-polled round trip. More than that is a
 * backlog: one batch buffer for all of it is cheaper per message then
 * (#fillBatch).
 */
const SMALL_READ_COUNT = 8;
const SMALL_READ_BYTES = 4096;

/**
 * The sequence number of the first message a subscriber that just joined
 * through shared memory will see (no welcome message says it): the record at
 * its join position once there is one, else the publisher's count, read
 * before looking (a commit counted then is a record found by the look).
 */
function nextSeqAfterJoin(reader: NativeSubscriber): number {
  const messages = reader.info().messages;
  const peeked = reader.peekSeq();
  return peeked >= 0 ? peeked : messages;
}

/**
 * One subscriber of a bus. Events: `state` (`{ from, to, reason }`) on every
 * transition of SubscriptionState, `gap` (GapEvent) after a rejoin, `end`
 * when the publisher closed and everything was read, `close`.
 */
export class Subscriber extends EventEmitter<SubscriberEvents> {
  readonly path: string;

  #native!: NativeSubscriber;
  /** Set for a provider that attaches through shared memory (then there is no control connection). */
  #route: SharedMemoryRoute | null = null;
  #attachment: SharedMemoryAttachment | null = null;
  #connection!: ControlConnection;
  #doorbell!: NativeFdWatcher;
  /**
   * Every wait's one call (#receive's parked reads, #waitReadable): the
   * announcement and, once announced, the doorbell's start, bound to the
   * reader and the watcher (#attached): no unwrap.
   */
  #sleep!: NativeSleep;
  /** recvSync()'s blocking wait, bound to the reader (socket buses only). */
  #waitSync: ((timeoutMs: number, controlFd: number) => number) | null = null;
  #log: Logger;
  #meta = new Float64Array(1 + MAX_BATCH * META_STRIDE);
  /** Where readSmall copies a few small messages before they get Buffers of their own; reused. */
  #scratch: Uint8Array | null = null;
  /**
   * The last view of #scratch a message was copied from (#copySmall): a
   * woken read's lone message sits at offset 0, as long as the one before
   * in a stream of one size, so its view is made once, not per message.
   */
  #scratchView: Uint8Array = new Uint8Array(0);
  /** The native subscriber #meta and #scratch are bound to (a rejoin brings a new one), and its readSmall. */
  #boundTo: NativeSubscriber | null = null;
  #readSmall: NativeReadSmall | null = null;
  #batchBytes: number;
  #maxMessageBytes: number;
  #spinMicros: number;
  #autoRejoin: boolean;
  #keepEnvelopes: boolean;
  #handshakeTimeoutMs: number;
  #queue: Buffer[] = [];
  #queueIndex = 0;
  /** The fragmented message being copied into a buffer of its own (its declared length), and how much of it is there. */
  #assembly: Buffer | null = null;
  /**
   * poll() hands a fragmented message to its handler as a view valid during
   * the call only, like the ring's own views: one buffer, reused for each
   * (no allocation, no fresh pages), is enough. #assembly may be a view of it.
   */
  #pollBuffer: Buffer | null = null;
  #assembled = 0;
  #assemblySeq = -1;
  /** Whose reused buffer #assembly is in: poll()'s, a lending iterator's, or null (a buffer of its own). */
  #assemblyLender: 'poll' | LentBuffers | null = null;
  #data: Uint8Array | null = null;
  /** Resolve the waits in #waitReadable (readable(), the slow path of reads): every one is woken. */
  #wakers = new Set<() => void>();
  /** A read waiting on the doorbell, taken by the doorbell's callback itself (#receive). */
  #parked: ParkedRead<unknown, unknown> | null = null;
  /** The doorbell's watcher (#onDoorbell) or recvSync() left the ring that woke us for the next announcement to clear. */
  #ringLeft = false;
  #welcome: ((message: WelcomeMessage, fds: number[]) => void) | null = null;
  #refused: ((error: Error) => void) | null = null;
  #publisherGone = false;
  #ownsConnection = true;
  #ended = false;
  #closed = false;
  /** stats() as it was when close() ran: what stats() answers from then on. */
  #finalStats: SubscriberStatsSnapshot | null = null;
  #failure: Error | null = null;
  #rejoining: Promise<void> | null = null;
  #state: SubscriptionState = 'active';
  /** While LAGGING: when the mirror was first seen ACTIVE again (null: not yet). */
  #activeSince: number | null = null;
  #lastEviction: EvictedError | null = null;
  #heartbeatMs: number;
  #heartbeat: NodeJS.Timeout | null = null;
  #delivered = 0;
  #deliveredBytes = 0;
  #evictions = 0;
  #lostBytes = 0;
  #lostMessages = 0;
  /** Sequence number of the last whole message taken from the ring. */
  #lastSeq = -1;
  /** What to release if this subscriber is collected unclosed (updated on every attach). */
  #leftovers: SubscriberLeftovers;

  private constructor(given: SubscriberOptions) {
    super();
    if (typeof given !== 'object' || given === null) throw invalidOption('options', given, 'an object');
    checkKnownOptions('Subscriber.connect', given, SUBSCRIBER_OPTION_NAMES);
    const options: SubscriberOptions = { ...given, ...resolveSubscriberAddress<IvshmemSubscribeOptions, XenSubscribeOptions>(given) };
    if (options.ivshmem !== undefined && options.xen !== undefined) throw invalidOption('xen', options.xen, 'no value with ivshmem');
    if (options.ivshmem !== undefined || options.xen !== undefined) {
      if (options.path !== undefined) throw invalidOption('path', options.path, 'no value with ivshmem or xen (they have no socket)');
      this.#route = options.xen !== undefined ? xenRoute(options.xen) : ivshmemRoute(options.ivshmem);
      this.path = this.#route.where;
    } else {
      this.path = checkPath('path', options.path);
    }
    this.#batchBytes = checkInteger('batchBytes', options.batchBytes, 1 << 20, 1, 1 << 30);
    this.#maxMessageBytes = checkInteger('maxMessageBytes', options.maxMessageBytes, C.RC_DEFAULT_MAX_MESSAGE, 1, MAX_BUFFER_LENGTH);
    this.#spinMicros = checkInteger('spinMicros', options.spinMicros, 0, 0, 1_000_000);
    this.#handshakeTimeoutMs = checkInteger('handshakeTimeoutMs', options.handshakeTimeoutMs, 5000, 1, 600_000);
    this.#autoRejoin = options.rejoin === true;
    this.#keepEnvelopes = options.keepEnvelopes === true;
    this.#heartbeatMs = checkInteger('heartbeatMs', options.heartbeatMs, 250, 1, 3_600_000);
    this.#log = resolveLogger(options.logger, 'subscriber');
    this.#leftovers = new SubscriberLeftovers(this.path);
  }

  /** Attaches to the bus at `options.path`; resolves once the ring is mapped and verified. */
  static async connect(options: SubscriberOptions): Promise<Subscriber> {
    const subscriber = new Subscriber(options);
    await subscriber.#open(checkSignal(options.signal));
    releaseIfLeaked(subscriber, subscriber.#leftovers);
    // At exit the kernel closes a socket subscriber's connection, which frees
    // its slot; nothing tells the publisher of a shared-memory subscriber's end.
    track('subscriber', subscriber, subscriber.#route ? subscriber.#leftovers.leaveAtExit : null);
    reportEvent('subscriber', subscriber, 'connect', { slot: subscriber.slot });
    return subscriber;
  }

  /** Every event also goes to the `ringcast:subscriber` diagnostics channel (src/diagnostics.ts). */
  override emit<K extends keyof SubscriberEvents>(event: K, ...args: SubscriberEvents[K]): boolean {
    reportEvent('subscriber', this, event, args[0]);
    return (super.emit as (event: K, ...args: SubscriberEvents[K]) => boolean)(event, ...args);
  }

  /**
   * @internal A channel's reading half: the channel owns `connection` and
   * forwards its close with _peerClosed().
   */
  static _fromWelcome(
    options: SubscriberOptions,
    connection: ControlConnection,
    message: WelcomeMessage,
    fds: number[],
  ): Subscriber {
    const subscriber = new Subscriber(options);
    subscriber.#connection = connection;
    subscriber.#ownsConnection = false;
    subscriber.#adopt(message, fds);
    return subscriber;
  }

  /** @internal */
  _peerClosed(): void {
    this.#onControlClosed();
  }

  /** A shared-memory provider's attach: map the regions, then join through shared memory. */
  async #openSharedMemory(route: SharedMemoryRoute, signal: AbortSignal | undefined): Promise<void> {
    const attachment = await route.attach(this.#handshakeTimeoutMs, signal);
    const reader = attachment.reader;
    if (this.#keepEnvelopes) reader.keepEnvelopes();
    this.#attachment = attachment;
    this.#native = reader;
    this.#lastSeq = nextSeqAfterJoin(reader) - 1;
    // No socket tells us the publisher died: the heartbeat's tick also looks (#beat).
    this.#attached(reader, attachment.doorbell, attachment.leave, Math.min(this.#heartbeatMs, attachment.checkEveryMs));
    this.#log.info({ ...attachment.logFields, slot: this.slot }, 'attached through shared memory');
  }

  /**
   * Attaches through the socket. A refusal that says "try again" (`flood`: the
   * publisher is busy with other handshakes; or a full listen backlog) is
   * retried, with growing pauses, until handshakeTimeoutMs is spent.
   */
  async #open(signal: AbortSignal | undefined): Promise<void> {
    if (this.#route) return this.#openSharedMemory(this.#route, signal);
    const deadline = performance.now() + this.#handshakeTimeoutMs;
    for (let pause = 5; ; pause = Math.min(pause * 2, 200)) {
      try {
        return await this.#openSocket(signal, Math.max(1, deadline - performance.now()));
      } catch (error) {
        if (!isTransientRefusal(error) || performance.now() + pause >= deadline) throw error;
        this.#log.info({ path: this.path, err: error }, 'attach refused for now; trying again');
        await sleepFor(pause, signal);
      }
    }
  }

  async #openSocket(signal: AbortSignal | undefined, timeoutMs: number): Promise<void> {
    let fd: number;
    try {
      fd = native.unixConnect(this.path);
    } catch (error) {
      throw wrapSystem(error, `cannot connect to bus ${this.path}`);
    }
    // The connection's watcher is a GC root: it reaches us weakly (src/leaks.ts).
    this.#connection = new ControlConnection(fd, {
      message: weakly(this, (self, message: ControlMessage, fds: number[]) => self.#onControl(message, fds)),
      violation: weakly(this, (self, detail: string) => self.#onViolation(detail)),
      closed: weakly(this, (self) => self.#onControlClosed()),
    });
    try {
      // A publisher that refuses at once (allow list) may close before our hello
      // lands; its answer still waits in our socket.
      this.#connection.trySend({ type: 'hello', version: PROTOCOL_VERSION, role: 'subscribe' });
      const { message, fds } = await pending(this, this.#awaitWelcome(signal, timeoutMs));
      this.#adopt(message, fds);
    } catch (error) {
      this.#connection.close();
      throw error;
    }
    this.#log.info({ path: this.path, slot: this.slot }, 'attached');
  }

  #awaitWelcome(signal: AbortSignal | undefined, timeoutMs = this.#handshakeTimeoutMs): Promise<{ message: WelcomeMessage; fds: number[] }> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        this.#connection?.readPending(); // an answer that came while we were not scheduled
        if (!settled) finish(new RingcastError('ERR_RINGCAST_HANDSHAKE', `no answer from ${this.path} within ${this.#handshakeTimeoutMs} ms`));
      }, timeoutMs);
      const onAbort = (): void => finish(abortError(signal!));
      const finish = (error: Error | null, value?: { message: WelcomeMessage; fds: number[] }): void => {
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#welcome = null;
        this.#refused = null;
        if (error) reject(error);
        else resolve(value!);
      };
      if (signal?.aborted) return finish(abortError(signal));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#welcome = (message, fds) => finish(null, { message, fds });
      this.#refused = (error) => finish(error);
    });
  }

  #onControl(message: ControlMessage, fds: number[]): void {
    if (message.type === 'welcome' && this.#welcome && fds.length === 4) {
      this.#welcome(message, fds);
      return;
    }
    for (const fd of fds) native.closeFd(fd);
    if (message.type === 'refused') {
      const error = new RefusedError(message.reason, message.message);
      if (this.#refused) this.#refused(error);
      else {
        this.#failure = error;
        this.#wakeUp();
      }
      return;
    }
    this.#refused?.(new RingcastError('ERR_RINGCAST_HANDSHAKE', `unexpected ${message.type} from the publisher`));
  }

  #onViolation(detail: string): void {
    this.#log.warn({ detail }, 'publisher sent a malformed control message');
    this.#refused?.(new RingcastError('ERR_RINGCAST_HANDSHAKE', `publisher sent a malformed control message: ${detail}`));
  }

  #onControlClosed(): void {
    this.#publisherGone = true;
    this.#refused?.(new RingcastError('ERR_RINGCAST_HANDSHAKE', `bus ${this.path} closed the connection during the handshake`));
    this.#wakeUp();
  }

  /** Maps what the welcome carried: [ring, ack page, own doorbell, publisher doorbell]. */
  #adopt(message: WelcomeMessage, fds: number[]): void {
    const [ringFd, ackFd, doorbellFd, publisherDoorbellFd] = fds as [number, number, number, number];
    let subscriber: NativeSubscriber;
    try {
      subscriber = new native.Subscriber(ringFd, ackFd, doorbellFd, publisherDoorbellFd);
    } catch (error) {
      throw new RingcastError('ERR_RINGCAST_BAD_REGION', `refusing the bus's shared memory: ${(error as Error).message}`, { cause: error });
    }
    const info = subscriber.info();
    if (info.slot !== message.slot || info.generation !== message.generation || message.version !== PROTOCOL_VERSION) {
      subscriber.destroy();
      throw new RingcastError('ERR_RINGCAST_HANDSHAKE', 'welcome does not match the ack page it carried');
    }
    if (this.#keepEnvelopes) subscriber.keepEnvelopes();
    this.#native = subscriber;
    this.#data = null;
    this.#lastSeq = message.nextSeq - 1; // the first message we can see is nextSeq
    this.#attached(subscriber, true, detachThrough(this.#connection, this.#ownsConnection), this.#heartbeatMs);
  }

  /**
   * What every route (socket, ivshmem, Xen) does once its reader is attached,
   * and a socket rejoin again with its new reader: watch the doorbell, start
   * the heartbeat, and tell the leftovers what to release. The watcher and
   * the timer live on their own, so they reach this subscriber only weakly
   * (src/leaks.ts): an unclosed subscriber nobody references is collected on
   * every route, and its leftovers give its slot back as close() does.
   * Nothing created here may capture `this`: one closure that did would keep
   * it alive through this scope.
   */
  #attached(reader: NativeSubscriber, doorbell: boolean | number, detach: () => void, beatEveryMs: number): void {
    // One-shot: the watcher pauses itself before it calls back (#onDoorbell).
    // A socket subscriber's doorbell is its own eventfd: the watcher leaves
    // the ring that woke us for the next announcement (#sleep) to clear
    // (#clearsRing). While a
    // wait is on, the watcher holds us: whoever awaits a parked read hangs
    // off this object alone (#park); a weak reference otherwise. It hands
    // us to the callback, which captures nothing.
    this.#doorbell = new native.FdWatcher(reader.doorbellFd, doorbell, Subscriber.#doorbellRang, {
      oneShot: true,
      leaveRung: this.#route === null,
      holds: this,
    });
    this.#sleep = this.#doorbell.sleepFunction(reader.announcer());
    this.#waitSync = reader.waitSyncFunction?.() ?? null;
    this.#ringLeft = false;
    if (!this.#heartbeat) {
      this.#heartbeat = setInterval(weakly(this, (self) => self.#beat()), beatEveryMs);
      this.#heartbeat.unref();
    }
    this.#leftovers.attached({ detach, native: reader, doorbell: this.#doorbell, heartbeat: this.#heartbeat, slot: reader.info().slot });
  }

  /**
   * The heartbeat's tick: the ack page's heartbeat moves (a publisher that
   * watches it sees us live); on a route without a socket, also the look
   * whether the publisher is gone.
   */
  #beat(): void {
    this.#native.heartbeat();
    const attachment = this.#attachment;
    if (attachment && !this.#publisherGone && attachment.publisherGone()) {
      this.#log.warn({ bus: this.path }, 'publisher gone');
      this.#publisherGone = true;
      this.#wakeUp();
    }
  }

  /** This subscriber's standing with the publisher. */
  get state(): SubscriptionState {
    return this.#closed ? 'closed' : this.#state;
  }

  #setState(to: SubscriptionState, reason: EvictionReason | null = null): void {
    const from = this.#state;
    if (from === to) return;
    this.#state = to;
    this.#activeSince = null;
    this.emit('state', { from, to, reason });
  }

  /** Follows ACTIVE <-> LAGGING as the publisher mirrors it (once per batch). */
  #followSlot(): void {
    if (this.#state !== 'active' && this.#state !== 'lagging') return;
    this.#followSlotState(this.#native.slotState());
  }

  /**
   * #followSlot with the slot's state already read (RC_SLOT_*). LAGGING is shown at once; ACTIVE
   * again once the mirror said so for LAG_SETTLE_MS, as on the publisher's side (seen at the reads
   * that follow: a reader that stopped reading has nothing to be told until it reads again).
   */
  #followSlotState(slot: number): void {
    if (this.#state !== 'active' && this.#state !== 'lagging') return;
    if (slot === C.RC_SLOT_LAGGING) {
      this.#activeSince = null;
      this.#setState('lagging');
    } else if (slot === C.RC_SLOT_ACTIVE && this.#state === 'lagging') {
      const now = performance.now();
      this.#activeSince ??= now;
      if (now - this.#activeSince >= LAG_SETTLE_MS) this.#setState('active');
    }
  }

  /** @internal Bytes of fragmented messages copied with non-temporal stores (tests, profiling). */
  _streamedBytes(): number {
    return this.#native.info().streamedBytes;
  }

  /** @internal Bounded spins for the next fragment of a message begun, and how many found it (tests, profiling). */
  _fragmentSpins(): { spins: number; found: number } {
    const info = this.#native.info();
    return { spins: info.fragmentSpins, found: info.fragmentSpinsFound };
  }

  /** @internal The bus's id (hex) and whether its messages carry envelopes. */
  _bus(): { busId: string; enveloped: boolean } {
    const info = this.#native.info();
    return { busId: info.busId, enveloped: (info.features & C.RC_FEATURE_ENVELOPE) !== 0 };
  }

  get slot(): number {
    return this.#closed ? -1 : this.#native.info().slot;
  }

  get closed(): boolean {
    return this.#closed;
  }

  // ---- reading -------------------------------------------------------------

  /**
   * The next message, waiting for one. Resolves null once the publisher
   * closed and everything committed was read. Rejects with EvictedError,
   * PublisherGoneError or a corruption error.
   */
  recv(options?: ReceiveOptions): Promise<Buffer | null> {
    try {
      return this.#receive(this.#nextMessage, checkSignal(options?.signal), false, asIs);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The two shapes a read takes (a message, a batch), bound once: every read path waits the same way. */
  readonly #nextMessage = (): Buffer | null | undefined => this.#next();
  readonly #nextMessages = (): Buffer[] | null | undefined => this.#nextBatch();

  /**
   * Waits for what `next` takes (a message or a batch; null at the end) and
   * resolves with `shape` of it. `spun`: the caller already spun for it;
   * sleep at once if it is not there. `looked`: the caller's own next() just
   * found nothing, so the first look here is skipped (a crossing into the
   * addon for the same answer). Throws what `next` throws (the caller turns
   * that into a rejection).
   *
   * The common wait is parked (#park): the doorbell's callback takes the
   * message itself and resolves the caller's promise with it, so a woken
   * reader reaches its own code one promise resolution after the doorbell
   * instead of climbing back through this loop's and #waitReadable's awaits
   * (docs/protocol.md, "Sleeping and waking"). Anything unusual (closed,
   * aborted, a rejoin under way, the publisher gone, another wait already
   * pending) takes #receiveSlowly, the general loop.
   */
  #receive<T, R>(next: () => T | null | undefined, signal: AbortSignal | undefined, spun: boolean, shape: (value: T | null) => R, looked = false): Promise<R> {
    for (;;) {
      if (!looked) {
        const message = next();
        if (message !== undefined) return Promise.resolve(shape(message));
      }
      looked = false;
      // Spinning finds the next message without a trip through the event loop.
      if (!spun && this.#spinForData()) continue;
      spun = false;
      if (this.#closed || signal?.aborted || this.#rejoining || this.#publisherGone || this.#parked !== null) {
        return this.#receiveSlowly(next, signal).then(shape);
      }
      // Announced as sleeping, the doorbell started; false: something came meanwhile, look again.
      if (this.#sleep(this.#clearsRing())) return new Promise<R>((resolve, reject) => this.#park({ next, shape, signal, resolve, reject }));
    }
  }

  /** #receive's general loop: every wait through #waitReadable. */
  async #receiveSlowly<T>(next: () => T | null | undefined, signal: AbortSignal | undefined): Promise<T | null> {
    for (;;) {
      await this.#waitReadable(signal, true);
      const message = next();
      if (message !== undefined) return message;
      if (this.#spinForData()) {
        const spunFor = next();
        if (spunFor !== undefined) return spunFor;
      }
    }
  }

  /**
   * Waits on the doorbell (#sleep already announced it and started the watcher) for #receive:
   * #unpark takes it from there. Whoever awaits this hangs off this object
   * alone: the started watcher holds it meanwhile (#attached), with no
   * allocation per wait.
   */
  #park<T, R>(read: ParkedRead<T, R>): void {
    const parked = read as ParkedRead<unknown, unknown>;
    if (read.signal) {
      parked.onAbort = () => {
        if (this.#parked !== parked) return;
        this.#unparkQuietly(parked);
        read.reject(abortError(read.signal!));
      };
      read.signal.addEventListener('abort', parked.onAbort, { once: true });
    }
    this.#parked = parked;
  }

  /**
   * Ends a parked wait: the doorbell paused, the sleep announcement
   * withdrawn. `rang`: the doorbell woke it, and needs neither (#onDoorbell).
   */
  #unparkQuietly(parked: ParkedRead<unknown, unknown>, rang = false): void {
    this.#parked = null;
    if (parked.onAbort) parked.signal!.removeEventListener('abort', parked.onAbort);
    // A wait in #waitReadable (readable() beside this read) still sleeps on the doorbell.
    if (!rang && !this.#closed && this.#wakers.size === 0) {
      this.#doorbell.stop();
      this.#native.endWait();
    }
  }

  /**
   * The doorbell rang (or close(), the publisher's end or a refusal woke us)
   * with a read parked: take what it waits for here and resolve it, or wait
   * again (a ring with nothing for us: an earlier wait's, or a batch that
   * needs another look).
   */
  #unpark(rang = false): void {
    const parked = this.#parked;
    if (parked === null) return;
    this.#unparkQuietly(parked, rang);
    try {
      const value = parked.next();
      if (value !== undefined) parked.resolve(parked.shape(value));
      else parked.resolve(this.#receive(parked.next, parked.signal, false, parked.shape, true));
    } catch (error) {
      parked.reject(error);
    }
  }

  /** Wakes whoever waits: a parked read, and a wait in #waitReadable. */
  #wakeUp(): void {
    this.#unpark();
    for (const wake of this.#wakers) wake();
  }

  /** The doorbell watcher's callback: it hands over the subscriber it holds (#attached). */
  static readonly #doorbellRang = (self: Subscriber | undefined): void => {
    if (self) self.#onDoorbell();
  };

  /**
   * The doorbell's callback. Its watcher is one-shot: it paused itself
   * before calling, so nothing is stopped here. Nor is the announcement
   * withdrawn (rc_sub_end_wait): the publisher rings once per announcement,
   * so `sleeping` left up costs it no ring, and the next wait announces
   * afresh. Two crossings into the addon fewer between the ring and the
   * reader's code (docs/protocol.md, "Sleeping and waking").
   */
  #onDoorbell(): void {
    this.#ringLeft = true;
    this.#unpark(true);
    // Most wake-ups have a parked read alone: no iterator for an empty set.
    if (this.#wakers.size !== 0) for (const wake of this.#wakers) wake();
  }

  /**
   * #sleep's argument: whether to clear the ring that the doorbell's
   * watcher or recvSync() left (#ringLeft), first. Not while
   * another wait is pending: the ring may be that one's, still to be
   * delivered.
   */
  #clearsRing(): boolean {
    if (!this.#ringLeft || this.#parked !== null || this.#wakers.size !== 0) return false;
    this.#ringLeft = false;
    return true;
  }

  /** The next message if one is ready now; undefined if none; null at end of stream. */
  tryRecv(): Buffer | null | undefined {
    return this.#next();
  }

  /**
   * The next message, waiting for it by blocking this thread: the wait with
   * the lowest latency, for a worker thread (or a process) that does nothing
   * but read. The doorbell wakes the thread straight out of epoll_wait(),
   * with no event loop, callback or promise on the way (docs/protocol.md,
   * "Sleeping and waking"). Returns the message; null at the end of the stream;
   * undefined when none came within `timeoutMs`, or when the event loop must
   * run first: the publisher sent a control message or its socket closed,
   * or an automatic rejoin is under way (then `await recv()` once, which
   * also reports a publisher that died). Throws as recv() does. While it
   * blocks nothing else runs on this thread: no timers, heartbeats or
   * events. Socket buses only (ERR_RINGCAST_UNSUPPORTED through ivshmem or
   * Xen).
   */
  recvSync(options?: ReceiveSyncOptions): Buffer | null | undefined {
    const timeoutMs = checkInteger('timeoutMs', options?.timeoutMs, -1, -1, 2 ** 31 - 1);
    if (this.#attachment) throw unsupported('recvSync() through shared-memory attachment (ivshmem, Xen)', 'use recv()');
    const deadline = timeoutMs < 0 ? Infinity : performance.now() + timeoutMs;
    for (;;) {
      const message = this.#next();
      if (message !== undefined) return message;
      if (this.#spinForData()) continue;
      if (this.#rejoining) return undefined;
      // No limit (the default): no clock on the way to the wait.
      const left = deadline === Infinity ? Infinity : deadline - performance.now();
      if (left <= 0) return undefined;
      // The addon never clears a ring (it watches the eventfd edge-triggered): what
      // woke it stays there until the event loop's next announcement (#clearsRing).
      const woken = this.#waitSync!(left === Infinity ? -1 : Math.ceil(left), this.#connection.fd);
      if (woken === 3) this.#ringLeft = true;
      if (woken === 2) return undefined;
    }
  }

  /**
   * Zero-copy: calls `handler` for up to `limit` ready messages with views into
   * the shared ring, valid only during the call, then acknowledges them.
   * A message that was fragmented in the ring is handed over as one copy, in
   * a buffer that the next such message reuses: valid during the call too.
   * Returns how many messages were handled (0: none ready). A `handler` that
   * is not a function, or a `limit` that is not a non-negative integer (or
   * Infinity), is ERR_RINGCAST_INVALID_OPTION before anything is taken.
   */
  poll(handler: PollHandler, limit = MAX_BATCH): number {
    // Checked before anything is taken: a handler that cannot be called would lose the messages it was given.
    if (typeof handler !== 'function') throw invalidOption('handler', handler, 'a function');
    if (limit !== MAX_BATCH && !(limit >= 0 && (Number.isInteger(limit) || limit === Infinity))) {
      throw invalidOption('limit', limit, 'a non-negative integer or Infinity');
    }
    if (this.#closed || this.#ended) return 0;
    if (this.#failure) throw this.#failure;
    let handled = 0;
    while (handled < limit && this.#queueIndex < this.#queue.length) {
      const queued = this.#take()!;
      handler(queued, -1);
      handled++;
    }
    if (handled >= limit) return handled;
    const max = Math.min(limit - handled, MAX_BATCH);
    const meta = this.#meta.subarray(0, 1 + max * META_STRIDE);
    const native = this.#bound();
    if (this.#assembly !== null || (native.poll(meta) === C.RC_EMESSAGE && this.#beginMessage(meta, 'poll'))) {
      // A fragmented message: copied once into the reused poll buffer, then handed over.
      const status = this.#continueMessage('poll');
      if (status < 0) {
        if (this.#status(status) === 'end') this.#ended = true;
        return handled;
      }
      const message = this.#take();
      if (message !== undefined) {
        handler(message, this.#lastSeq);
        handled++;
      }
      return handled;
    }
    const count = meta[0]!;
    if (count >= 0) this.#followSlot();
    if (count <= 0) {
      if (count < 0 && this.#status(count) === 'end') this.#ended = true;
      else if (count === 0 && handled === 0) this.#throwIfPublisherDied();
      return handled;
    }
    const data = (this.#data ??= new Uint8Array(this.#native.data));
    let entries = 0;
    try {
      for (let i = 0; i < count; i++) {
        entries = i + 1; // a handler that throws consumes its message, not the rest
        const at = 1 + i * META_STRIDE;
        const offset = meta[at]!;
        const length = meta[at + 1]!;
        // Whole messages only (handOutWholeMessages): fragmented ones come as RC_EMESSAGE.
        this.#lastSeq = meta[at + 3]!;
        this.#count(length);
        handler(data.subarray(offset, offset + length), meta[at + 3]!);
        handled++;
      }
    } finally {
      const released = entries === count ? this.#native.release() : this.#native.releasePartial(entries);
      if (released < 0) this.#status(released);
    }
    return handled;
  }

  /** Resolves when a message (or the end, or an error) is ready. */
  async readable(options?: ReceiveOptions): Promise<void> {
    const signal = checkSignal(options?.signal);
    if (this.#queueIndex < this.#queue.length) return;
    await this.#waitReadable(signal);
  }

  /**
   * Messages until the publisher closes. Hand-written rather than an async
   * generator: a message already copied out of the ring is handed over with
   * one resolved promise, without a generator's extra promise layers.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Buffer> {
    return this.#iterate(this.#nextMessage, undefined);
  }

  /**
   * Batches of messages until the publisher closes: each array holds every
   * message that one crossing into the native core copied out of the ring (at
   * least one, in order; up to `batchBytes` bytes of them). The same messages,
   * end, errors (EvictedError, PublisherGoneError, corruption), automatic
   * rejoin and `gap` event as iterating the subscriber itself, with one
   * promise per batch instead of one per message. `signal` aborts the
   * iteration (ERR_RINGCAST_ABORTED) when it is waiting or at its next step;
   * what was already handed over stays delivered. With `reuseBuffer`, every
   * batch is copied into one buffer the iterator reuses: its messages are
   * valid until the iterator's next step, fragmented messages included.
   */
  batches(options?: BatchesOptions): AsyncIterableIterator<Buffer[]> {
    if (options !== undefined) {
      // A misspelt reuseBuffer would silently allocate per batch; a truthy non-boolean would be ignored.
      if (typeof options !== 'object' || options === null) throw invalidOption('options', options, 'an object');
      checkKnownOptions('batches()', options, BATCHES_OPTION_NAMES);
      if (options.reuseBuffer !== undefined && typeof options.reuseBuffer !== 'boolean') throw invalidOption('reuseBuffer', options.reuseBuffer, 'a boolean');
    }
    const signal = checkSignal(options?.signal);
    if (options?.reuseBuffer !== true) return this.#iterate(this.#nextMessages, signal);
    // The buffers are this iterator's own: another iterator's steps cannot overwrite what it handed over.
    let lent: LentBuffers | null = null;
    return this.#iterate(() => this.#nextBatch((lent ??= this.#newLentBuffers())), signal);
  }

  /** The async iterator of both shapes: one wait, one end, one error path. */
  #iterate<T>(take: () => T | null | undefined, signal: AbortSignal | undefined): AsyncIterableIterator<T> {
    const done: IteratorReturnResult<undefined> = { done: true, value: undefined };
    const wrap = (value: T | null): IteratorResult<T> => (value === null ? done : { done: false, value });
    const iterator: AsyncIterableIterator<T> = {
      next: () => {
        let value: T | null | undefined;
        let spun = false;
        try {
          if (signal?.aborted) throw abortError(signal);
          value = take();
          if (value === undefined && this.#spinMicros > 0) {
            spun = true;
            if (this.#spinForData()) value = take();
          }
          return value === undefined ? this.#receive(take, signal, spun, wrap, true) : Promise.resolve(wrap(value));
        } catch (error) {
          return Promise.reject(error);
        }
      },
      return: () => Promise.resolve(done),
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /** A Readable of messages (one chunk per message unless objectMode is false; byte-exact for binary data). */
  createReadStream(options?: StreamOptions): Readable {
    return readableFrom(this, options);
  }

  /**
   * Leaves the evicted state: re-attaches at the live head (the `gap` event
   * reports the loss). Called while attached, it skips to the live head the
   * same way. A rejoin asked while one is under way waits for that one.
   */
  rejoin(): Promise<void> {
    // Two at once would each ask for a new slot over one connection; the second welcome never comes.
    this.#rejoinCall ??= this.#rejoinOnce().finally(() => {
      this.#rejoinCall = null;
    });
    return this.#rejoinCall;
  }

  #rejoinCall: Promise<void> | null = null;

  async #rejoinOnce(): Promise<void> {
    if (this.#closed) throw closedError('subscriber');
    if (this.#publisherGone) throw new PublisherGoneError();
    this.#setState('rejoining');
    try {
      await (this.#attachment ? this.#rejoinSharedMemory(this.#attachment) : this.#rejoinSocket());
    } catch (error) {
      // Still evicted (a `backoff` refusal keeps the connection or the slot: ask again later).
      if (!this.#closed) this.#setState('evicted', this.#lastEviction?.reason ?? null);
      throw error;
    }
  }

  /** A new slot through the same connection: the welcome brings new descriptors. */
  async #rejoinSocket(): Promise<void> {
    try {
      this.#connection.send({ type: 'rejoin' });
    } catch (error) {
      // The publisher's end is gone (it closed the bus or died) before we read
      // that from the socket: nobody is left to let us back in.
      this.#publisherGone = true;
      throw new PublisherGoneError(`bus ${this.path}: the publisher closed the connection; there is nothing to rejoin (${(error as Error).message})`);
    }
    const { message, fds } = await pending(this, this.#awaitWelcome(undefined));
    const lastSeq = this.#lastSeq;
    this.#doorbell.close();
    this.#native.destroy();
    this.#adopt(message, fds);
    this.#rejoined(lastSeq, message.nextSeq);
  }

  /** rejoin: true: a `backoff` refusal is waited out (asking again with growing pauses), anything else fails. */
  async #rejoinUntilLetIn(): Promise<void> {
    for (let pause = 100; ; pause = Math.min(pause * 2, 5000)) {
      try {
        return await this.rejoin();
      } catch (error) {
        if (!(error instanceof RefusedError && error.reason === 'backoff') || this.#closed) throw error;
        this.#log.info({ path: this.path, message: error.message }, 'rejoin refused for now; waiting');
        await sleepFor(pause, undefined);
        if (this.#closed) throw closedError('subscriber');
      }
    }
  }

  /** The same slot again, through shared memory; the doorbell and the mapping stay. */
  async #rejoinSharedMemory(attachment: SharedMemoryAttachment): Promise<void> {
    await attachment.rejoin(this.#handshakeTimeoutMs);
    // The join formatted the reader again, hiding envelopes as for any reader.
    if (this.#keepEnvelopes) attachment.reader.keepEnvelopes();
    this.#rejoined(this.#lastSeq, nextSeqAfterJoin(attachment.reader));
  }

  /**
   * Every route's rejoin ends here: reading resumes at the message numbered
   * `nextSeq` (the last one delivered before was `lastSeq`), the reader is
   * bound again (a shared-memory join re-initialised it; a socket rejoin
   * brought a new one), and the gap is reported.
   */
  #rejoined(lastSeq: number, nextSeq: number): void {
    this.#lastSeq = nextSeq - 1;
    this.#data = null;
    this.#boundTo = null;
    this.#failure = null;
    this.#dropMessage();
    this.#setState('active');
    this.#reportGap(Math.max(0, nextSeq - (lastSeq + 1)));
  }

  /** After a rejoin: the whole gap is reported; stats() add what the eviction had not counted yet. */
  #reportGap(lostMessages: number): void {
    const lost = this.#lastEviction;
    this.#lastEviction = null;
    this.#lostMessages += Math.max(0, lostMessages - (lost?.lostMessages ?? 0));
    if (lost) {
      // Everything from where we stopped to where we join again is gone.
      const lostTo = Math.max(lost.lostTo, this.#native.info().position);
      this.#lostBytes += lostTo - lost.lostTo;
      this.emit('gap', {
        reason: lost.reason,
        lostFrom: lost.lostFrom,
        lostTo,
        lostBytes: lostTo - lost.lostFrom,
        lostMessages,
      } satisfies GapEvent);
    }
  }

  /** Delivery and loss figures; after close(), the final ones. */
  stats(): SubscriberStatsSnapshot {
    if (this.#finalStats) return this.#finalStats;
    if (this.#closed) throw closedError('subscriber');
    const info = this.#native.info();
    return {
      slot: info.slot,
      delivered: this.#delivered,
      deliveredBytes: this.#deliveredBytes,
      position: info.position,
      head: info.head,
      lagBytes: info.head - info.position,
      buffered: this.#queue.length - this.#queueIndex,
      evictions: this.#evictions,
      lostBytes: this.#lostBytes,
      lostMessages: this.#lostMessages,
    };
  }

  /** Detaches (the publisher frees the slot at once) and releases every resource. */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#native) this.#finalStats = this.stats();
    this.#closed = true;
    untrack(this);
    forget(this);
    // The same release as when collected unclosed: one way to give the slot back per route.
    this.#leftovers.release();
    this.#data = null;
    this.#wakeUp();
    this.emit('close');
  }

  // ---- internals -------------------------------------------------------------

  #count(bytes: number): void {
    this.#delivered++;
    this.#deliveredBytes += bytes;
  }

  /** Everything queued, counted as delivered. */
  #takeAll(): Buffer[] {
    const queue = this.#queue;
    const messages = this.#queueIndex === 0 ? queue : queue.slice(this.#queueIndex);
    this.#queue = [];
    this.#queueIndex = 0;
    let bytes = 0;
    for (const message of messages) bytes += message.length;
    this.#delivered += messages.length;
    this.#deliveredBytes += bytes;
    return messages;
  }

  #take(): Buffer | undefined {
    if (this.#queueIndex >= this.#queue.length) return undefined;
    const message = this.#queue[this.#queueIndex]!;
    this.#queue[this.#queueIndex++] = undefined as unknown as Buffer;
    if (this.#queueIndex === this.#queue.length) {
      this.#queue = [];
      this.#queueIndex = 0;
    }
    this.#count(message.length);
    return message;
  }

  /**
   * The native subscriber, bound after each attach: whole-message reads with
   * this subscriber's cap, and readSmall's buffers.
   */
  #bound(): NativeSubscriber {
    const native = this.#native;
    if (this.#boundTo !== native) {
      native.handOutWholeMessages(this.#maxMessageBytes);
      this.#readSmall = native.bindReadBuffers(this.#meta, (this.#scratch ??= new Uint8Array(SMALL_READ_BYTES)), SMALL_READ_COUNT);
      this.#boundTo = native;
    }
    return native;
  }

  /**
   * RC_EMESSAGE: the next message is fragmented and `length` bytes long (the
   * core checked that against maxMessageBytes): one buffer for all of it, which
   * its fragments are copied into straight from the ring. `lender`: poll()'s
   * reused buffer, or a lending iterator's, instead of a buffer of its own.
   */
  #beginMessage(meta: Float64Array, lender: 'poll' | LentBuffers | null = null): true {
    const length = meta[1]!;
    this.#assemblyLender = lender;
    if (lender === 'poll') {
      if ((this.#pollBuffer?.length ?? 0) < length) this.#pollBuffer = Buffer.allocUnsafe(length);
      this.#assembly = this.#pollBuffer!.subarray(0, length);
    } else if (lender !== null) {
      if ((lender.message?.length ?? 0) < length) lender.message = length >= LARGE_MESSAGE_FROM ? native.allocMessage(length) : Buffer.allocUnsafeSlow(length);
      this.#assembly = lender.message!.subarray(0, length);
    } else {
      // A large message gets a mapping that an earlier one left (allocMessage): no fresh pages to fault in.
      this.#assembly = length >= LARGE_MESSAGE_FROM ? native.allocMessage(length) : Buffer.allocUnsafe(length);
    }
    this.#assembled = 0;
    this.#assemblySeq = meta[2]!;
    return true;
  }

  /**
   * Copies what is committed of the message begun; queues it once whole.
   * Returns 1 if it progressed, 0, or a negative status. `taker`: who takes
   * it, poll() or a lending iterator (which hand out their own reused
   * buffers), or null (recv() and the rest, whose callers keep what they get).
   */
  #continueMessage(taker: 'poll' | LentBuffers | null = null): number {
    const message = this.#assembly!;
    // A Buffer of its own (no lender) is cold memory: the addon streams large copies into it;
    // into a reused one only from where it is past the cache too (subscriber_reads.h, kReusedStreamsFrom).
    const filled = this.#native.readMessage(message, this.#assembled, this.#assemblyLender === null);
    if (filled < 0) return filled;
    const progressed = filled > this.#assembled ? 1 : 0;
    this.#assembled = filled;
    if (filled === message.length) {
      this.#lastSeq = this.#assemblySeq;
      // Begun in a reused buffer and finished by another reader (poll() then recv()): a copy of its own.
      const lender = this.#assemblyLender;
      this.#queue.push(lender === null || lender === taker ? message : Buffer.from(message));
      this.#dropMessage();
    }
    return progressed;
  }

  /** Forgets a message partly copied (its memory goes with it). */
  #dropMessage(): void {
    this.#assembly = null;
    this.#assembled = 0;
    this.#assemblyLender = null;
  }

  /** undefined: nothing now. null: end of stream. Throws on eviction, loss of publisher, corruption. */
  #next(): Buffer | null | undefined {
    if (this.#queueIndex < this.#queue.length) return this.#take();
    // The common read (a wake-up for one small message): that message
    // straight to the caller, without the queue's push, take and reset.
    let read: number | undefined;
    if (this.#assembly === null && !this.#closed && !this.#ended && this.#failure === null && !this.#rejoining) {
      this.#bound();
      read = this.#readSmall!();
      if (read === 1) return this.#takeOnlySmall();
    }
    return this.#ready(null, read) ? this.#take() : this.#closed || this.#ended ? null : undefined;
  }

  /** readSmall copied exactly one message: it, counted as delivered, its seq seen, not queued. */
  #takeOnlySmall(): Buffer {
    const meta = this.#meta;
    this.#followSlotState(meta[0]!);
    const message = this.#copySmall(meta[1]!, meta[2]!);
    this.#lastSeq = meta[4]!;
    this.#count(message.length);
    return message;
  }

  /**
   * A Buffer of its own for a message readSmall copied into the scratch
   * buffer, from Node's pool: cheaper than views into a shared one
   * (Buffer's subarray() goes through its species). The view it is copied
   * from is reused while messages come at the same place with the same
   * length (#scratchView): making it was about 350 of the 7 400
   * instructions between a woken read's doorbell and its answer's
   * (bench/woken-path.mjs, relay).
   */
  #copySmall(offset: number, length: number): Buffer {
    const message = Buffer.allocUnsafe(length);
    let source = this.#scratchView;
    if (source.byteOffset !== offset || source.length !== length) this.#scratchView = source = this.#scratch!.subarray(offset, offset + length);
    message.set(source);
    return message;
  }

  /**
   * #next for batches(): every message copied out in one crossing (at least
   * one), or undefined / null as #next. `lent`: the batch (or a fragmented
   * message) is copied into these (batches({ reuseBuffer: true })).
   */
  #nextBatch(lent: LentBuffers | null = null): Buffer[] | null | undefined {
    return this.#queueIndex < this.#queue.length || this.#ready(lent) ? this.#takeAll() : this.#closed || this.#ended ? null : undefined;
  }

  /** What one batches({ reuseBuffer: true }) copies into: batchBytes (at least one record's payload); a message buffer once needed. */
  #newLentBuffers(): LentBuffers {
    return { batch: Buffer.allocUnsafeSlow(Math.max(this.#batchBytes, this.#native.info().maxPayload)), message: null, views: [] };
  }

  /**
   * The one implementation of what every read waits for: true once messages
   * are queued; false when there is nothing now or the stream ended (the
   * caller tells which by #closed / #ended). Throws on eviction, loss of the
   * publisher, corruption; starts an automatic rejoin. `lent`: as #fill's.
   */
  #ready(lent: LentBuffers | null = null, read?: number): boolean {
    // `read`: the caller (#next) already read the ring once; its status, the messages not yet queued.
    let readFirst = read === undefined ? undefined : this.#queueSmall(read);
    for (;;) {
      let status: number;
      if (readFirst !== undefined) {
        status = readFirst;
        readFirst = undefined;
      } else {
        if (this.#queueIndex < this.#queue.length) return true;
        if (this.#closed || this.#ended) return false;
        if (this.#failure) throw this.#failure;
        // A shared-memory rejoin holds the reader until its join is answered.
        if (this.#rejoining) return false;
        status = this.#fill(lent);
      }
      if (status > 0) continue;
      if (status < 0) {
        // The end sets #ended; else an automatic rejoin is under way, which #waitReadable awaits.
        this.#status(status);
        return false;
      }
      if (this.#publisherGone && this.#native.available() === 0 && publisherEnded(this.#native.info().publisherState)) continue;
      this.#throwIfPublisherDied();
      return false;
    }
  }

  /** Nothing left to read, the socket is gone and the ring never said CLOSED: the publisher died. */
  #throwIfPublisherDied(): void {
    if (!this.#publisherGone || this.#native.available() !== 0) return;
    if (publisherEnded(this.#native.info().publisherState)) return;
    this.#failure = new PublisherGoneError();
    throw this.#failure;
  }

  /**
   * Copies what is ready out of the ring into the queue; returns the native
   * status (the count copied, 0, or negative). A few small messages come in
   * one crossing with the slot's state, each into a Buffer of its own; a
   * backlog goes to #fillBatch. `lent`: everything goes to #fillBatch, which
   * copies it into those buffers (the caller hands the messages over until
   * its next read).
   */
  #fill(lent: LentBuffers | null = null): number {
    this.#bound();
    if (this.#assembly !== null) return this.#continueMessage(lent);
    if (lent !== null) return this.#fillBatch(lent);
    return this.#queueSmall(this.#readSmall!());
  }

  /** What a readSmall that returned `count` copied, queued (or the read it asks for next); returns #fill's status. */
  #queueSmall(count: number): number {
    const meta = this.#meta;
    if (count === C.RC_ETOOBIG) return this.#fillBatch();
    if (count === C.RC_EMESSAGE) {
      this.#followSlotState(meta[0]!);
      this.#beginMessage(meta);
      return this.#continueMessage();
    }
    if (count >= 0) this.#followSlotState(meta[0]!);
    if (count <= 0) return count;
    for (let i = 0; i < count; i++) {
      const at = 1 + i * META_STRIDE;
      this.#enqueue(this.#copySmall(meta[at]!, meta[at + 1]!), meta[at + 3]!);
    }
    return count;
  }

  /** Queues a whole message (fragmented ones come through #beginMessage). */
  #enqueue(message: Buffer, seq: number): void {
    this.#lastSeq = seq;
    this.#queue.push(message);
  }

  /**
   * Copies one batch out of the ring into one buffer of its own (or into
   * the lent one), its messages views into it, queued.
   */
  #fillBatch(lent: LentBuffers | null = null): number {
    if (lent !== null) return this.#fillLent(lent);
    const meta = this.#meta;
    const batch = this.#native.read(this.#batchBytes, meta);
    const count = meta[0]!;
    if (count === C.RC_EMESSAGE) {
      this.#followSlot();
      this.#beginMessage(meta);
      return this.#continueMessage();
    }
    if (count >= 0) this.#followSlot();
    if (batch === null) return count;
    // Buffer.from(arrayBuffer, ...) makes the view without subarray()'s
    // species lookup: a fifth less per message.
    const memory = batch.buffer;
    const base = batch.byteOffset;
    for (let i = 0; i < count; i++) {
      const at = 1 + i * META_STRIDE;
      this.#enqueue(Buffer.from(memory, base + meta[at]!, meta[at + 1]!), meta[at + 3]!);
    }
    return count;
  }

  /**
   * #fillBatch into a lending iterator's buffer. Its messages are valid until
   * the next step, and so are their views: a view whose bytes are where they
   * were is handed out again. The addon says how many of the first entries
   * are where they were at the last read into this buffer; those indexes'
   * views (made or checked at that read) need no look.
   */
  #fillLent(lent: LentBuffers): number {
    const meta = this.#meta;
    const batch = lent.batch;
    const unmoved = this.#native.read(batch.length, meta, batch);
    const count = meta[0]!;
    if (count === C.RC_EMESSAGE) {
      this.#followSlot();
      this.#beginMessage(meta, lent);
      return this.#continueMessage(lent);
    }
    if (count >= 0) this.#followSlot();
    if (unmoved === null) return count;
    const views = lent.views;
    // views holds one per index up to its length; a new iterator's buffer
    // may be where a collected one's was, which the addon cannot tell.
    const same = Math.min(unmoved, views.length);
    let queue = this.#queue;
    if (queue.length === 0 && same === count) {
      // The usual step: the last one took everything and every message is where it was.
      this.#queue = views.length === count ? views.slice() : views.slice(0, count);
    } else {
      // An empty queue is replaced by an array of the batch's size, filled in
      // place: pushing onto an empty one grew it about ten times per batch of 256.
      let at = queue.length;
      if (at === 0) this.#queue = queue = new Array<Buffer>(count);
      for (let i = 0; i < same; i++) queue[at++] = views[i]!;
      const memory = batch.buffer;
      const base = batch.byteOffset;
      for (let i = same; i < count; i++) {
        const entry = 1 + i * META_STRIDE;
        const offset = base + meta[entry]!;
        const length = meta[entry + 1]!;
        let view = views[i];
        if (view === undefined || view.byteOffset !== offset || view.length !== length) views[i] = view = Buffer.from(memory, offset, length);
        queue[at++] = view;
      }
    }
    // What #enqueue does per message, once: the batch's last one is the last seen.
    this.#lastSeq = meta[1 + (count - 1) * META_STRIDE + 3]!;
    return count;
  }

  /** Turns a negative native status into the end of stream, an automatic rejoin, or a thrown error. */
  #status(status: number): 'end' | 'rejoining' {
    if (status === C.RC_EABORTED) {
      this.#dropMessage();
      this.#failure = new PublisherAbortedError();
      this.#log.warn({ path: this.path }, 'publisher aborted; stream cut short');
      throw this.#failure;
    }
    if (status === C.RC_ECLOSED) {
      if (this.#assembly !== null) {
        this.#dropMessage();
        this.#failure = new RingcastError('ERR_RINGCAST_TRUNCATED', 'the publisher closed in the middle of a message; its beginning was dropped');
        throw this.#failure;
      }
      if (!this.#ended) {
        this.#ended = true;
        this.#log.info({ path: this.path }, 'publisher closed; stream ended');
        this.emit('end');
      }
      return 'end';
    }
    if (status === C.RC_EEVICTED || status === C.RC_ELAPPED) {
      // recv() looks again before it waits: this eviction is already counted and being rejoined.
      if (this.#rejoining) return 'rejoining';
      const info = this.#native.info();
      const reason: EvictionReason = status === C.RC_ELAPPED ? 'lapped' : (EVICT_REASONS[info.evictReason] ?? 'slow');
      const error = new EvictedError(reason, info.lostFrom, info.lostTo, this.#messagesLostTo(info.lostToSeq));
      this.#evictions++;
      this.#lostBytes += error.lostBytes;
      this.#lostMessages += error.lostMessages ?? 0;
      this.#dropMessage();
      this.#lastEviction = error;
      this.#log.warn({ reason, lostBytes: error.lostBytes }, 'evicted');
      this.#setState('evicted', reason);
      if (this.#autoRejoin && !this.#publisherGone) {
        this.#rejoining ??= this.#rejoinUntilLetIn().then(
          () => undefined,
          (rejoinError: unknown) => {
            // No publisher to rejoin: the eviction is what this reader is left with, as without `rejoin`.
            this.#failure = this.#publisherGone && this.#lastEviction ? this.#lastEviction : (rejoinError as Error);
          },
        ).finally(() => {
          this.#rejoining = null;
        });
        return 'rejoining';
      }
      this.#failure = error;
      throw error;
    }
    this.#dropMessage();
    // The core says ECORRUPT both for a malformed record and for a first fragment declaring more than
    // the subscriber takes: name both, so a subscriber with a low maxMessageBytes learns why.
    const why = status === C.RC_ECORRUPT ? `: a malformed record, or a message declaring more than maxMessageBytes (${this.#maxMessageBytes}, or the publisher's if lower)` : '';
    const error = new RingcastError('ERR_RINGCAST_CORRUPT', `the ring broke the protocol (status ${status}${why}); refusing to read further`);
    this.#failure = error;
    throw error;
  }

  /**
   * Messages lost up to the one numbered `lostToSeq` (the first not lost),
   * counted from the next one we would have delivered: from our own read
   * position, as the lost byte range is. A message we had begun to
   * reassemble is lost too. undefined when unknown (a lap).
   */
  #messagesLostTo(lostToSeq: number): number | undefined {
    return lostToSeq < 0 ? undefined : Math.max(0, lostToSeq - (this.#lastSeq + 1));
  }

  /** Busy-polls up to spinMicros for data; true if some arrived. Synchronous: it never yields. */
  #spinForData(): boolean {
    if (this.#spinMicros === 0 || this.#closed || this.#rejoining) return false;
    const until = performance.now() + this.#spinMicros / 1000;
    while (performance.now() < until) if (this.#native.available() > 0) return true;
    return false;
  }

  /** `spun`: the caller spun already; go straight to the doorbell. */
  async #waitReadable(signal: AbortSignal | undefined, spun = false): Promise<void> {
    if (this.#closed) return;
    if (signal?.aborted) throw abortError(signal);
    if (this.#rejoining) return pending(this, this.#rejoining);
    if (!spun && this.#spinForData()) return;
    // The publisher gone: no doorbell will ring; the caller's next look reports it (#throwIfPublisherDied).
    if (this.#publisherGone) return;
    // Announced and the doorbell started (false: something came, look again). Its callback
    // runs from the event loop, after the waker below is in #wakers.
    if (!this.#sleep(this.#clearsRing())) return;
    let onAbort: (() => void) | undefined;
    // Whoever awaits this hangs off this object alone: keep it alive meanwhile
    // (without another async layer: this wait is on the latency path).
    const release = hold(this);
    let wake: (() => void) | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        wake = resolve;
        this.#wakers.add(resolve);
        if (signal) {
          onAbort = () => reject(abortError(signal));
          signal.addEventListener('abort', onAbort, { once: true });
        }
      });
    } finally {
      release();
      this.#wakers.delete(wake!);
      if (onAbort) signal!.removeEventListener('abort', onAbort);
      // Another wait beside this one (a parked read, readable()) still sleeps on the doorbell.
      if (!this.#closed && this.#parked === null && this.#wakers.size === 0) {
        this.#doorbell.stop();
        this.#native.endWait();
      }
    }
  }
}

/** @internal A refusal worth another try soon: the publisher is busy with handshakes, or its listen backlog is full. */
export function isTransientRefusal(error: unknown): boolean {
  if (error instanceof RefusedError) return error.reason === 'flood';
  const cause = (error as { cause?: { errno?: number } } | null)?.cause;
  return (error as RingcastError | null)?.code === 'ERR_RINGCAST_SYSTEM' && cause?.errno === osConstants.errno.EAGAIN;
}

export function sleepFor(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * What a Subscriber holds that must be released, by close() or, if it is
 * collected unclosed, by the leak registry (src/leaks.ts). One release for
 * every route; it must not reference the Subscriber.
 */
class SubscriberLeftovers implements Leftovers {
  /** Gives the slot back: the socket's detach message, or the shared-memory leave request. */
  #detach: (() => void) | null = null;
  #doorbell: NativeFdWatcher | null = null;
  #native: NativeSubscriber | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  #slot = -1;

  constructor(readonly path: string) {}

  /** After each attach: what to release from now on. */
  attached(what: { detach: () => void; native: NativeSubscriber; doorbell: NativeFdWatcher; heartbeat: NodeJS.Timeout; slot: number }): void {
    this.#detach = what.detach;
    this.#native = what.native;
    this.#doorbell = what.doorbell;
    this.#heartbeat = what.heartbeat;
    this.#slot = what.slot;
  }

  describe(): string {
    return `ringcast Subscriber of ${this.path} (slot ${this.#slot})`;
  }

  /**
   * The exit hook of a route without a socket: only the leave request (a
   * store into the ack page and a doorbell ring, synchronous); the kernel
   * releases the rest as the process ends.
   */
  readonly leaveAtExit = (): void => {
    this.#detach?.();
    this.#detach = null;
  };

  /** Stops the timer and the watcher, gives the slot back (the publisher frees it at once), unmaps. Once. */
  release(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#doorbell?.close();
    this.#detach?.(); // before destroy(): a leave request is written into the ack page
    this.#native?.destroy();
    this.#detach = this.#doorbell = this.#native = this.#heartbeat = null;
  }
}

/** The socket route's detach: tell the publisher, then close the connection if it is ours (a channel's is the channel's). */
function detachThrough(connection: ControlConnection, owned: boolean): () => void {
  return () => {
    connection.trySend({ type: 'detach' });
    if (owned) connection.close();
  };
}

/** The ring says the stream ended, in order (CLOSED) or cut short (ABORTED): the publisher did not just die. */
function publisherEnded(state: number): boolean {
  return state === C.RC_PUB_CLOSED || state === C.RC_PUB_ABORTED;
}
