// The publisher: owns the ring, the ack pages and the bus socket.
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import type { Writable } from 'node:stream';

import type { PublisherEvents } from './events.js';
import { PROTOCOL_VERSION, type ControlConnection, type HelloMessage } from './control.js';
import { ControlServer, checkAllow, checkMaxPendingHandshakes, type ControlSession, type Handshake } from './control/server.js';
import { reportEvent, track, unlinkSocketAtExit, untrack } from './diagnostics.js';
import { RingcastError, abortError, closedError, invalidOption, type EvictionReason } from './errors.js';
import { resolveLogger, type Logger } from './logger.js';
import { verdictName } from './attachment.js';
import { PublishQueue } from './publish-queue.js';
import { resolvePublisherAddress } from './address.js';
import { VmHost, checkVmOptions, type VmOptions, type VmServiceResult } from './providers/ivshmem.js';
import { XEN_DEFAULT_HEARTBEAT_MS, XenHost, checkXenBusOptions, type XenBusInfo, type XenBusOptions, type XenSlotChange } from './providers/xen.js';
import { C, native, type NativeFdWatcher, type NativePeer, type NativePublisher, type NativeRingWriter } from './native.js';
import {
  checkCapacity,
  checkEvictAfterMs,
  checkInteger,
  checkKnownOptions,
  checkPath,
  checkPolicy,
  checkSignal,
  MAX_BUFFER_LENGTH,
  optionNames,
  type SlowConsumerPolicy,
} from './options.js';
import { writableTo, type StreamOptions } from './streams.js';

/**
 * Publisher.listen's options. A combination the publisher refuses at run time
 * is refused by the types too: `evictAfterMs` only with policy `block`.
 */
export type PublisherOptions = PublisherOptionFields &
  ({ address: string; path?: undefined } | { path: string; address?: undefined }) &
  ({ policy?: 'block' } | { policy: 'drop'; evictAfterMs?: undefined });

/** Every option of PublisherOptions, each on its own. */
export interface PublisherOptionFields {
  /**
   * The bus's address (docs/addresses.md): `unix:PATH` or a bare path for a
   * local bus; `ivshmem:RING?server=SOCKET` for KVM/QEMU guests, with the
   * guests in `vm.guests`; `ivshmem:RING?server=SOCKET&unix=PATH` for both
   * (a mixed bus); `xen:DOMID/BUS` for Xen domains (DOMID: this domain), with
   * the receivers in `xen.receivers`. Give this or `path`.
   */
  address?: string;
  /** Path of the bus's Unix socket, taken as it is (a bind mount shares it with containers). Give this or `address`. */
  path?: string;
  /** @internal false: no socket of its own (a channel attaches its one peer itself). */
  listen?: boolean;
  /**
   * @internal Every message starts with an envelope (origin, origin sequence,
   * hops) that subscribers do not see: a bridge's republished bus.
   */
  envelopes?: boolean;
  /** @internal The Xen bus a `xen:` address names (resolvePublisherAddress). */
  xenBus?: { domid: number; bus: string };
  /** Data area bytes, a power of two (default 4 MiB; on Xen at most `constants.xenMaxCapacity`, docs/xen.md). */
  capacity?: number;
  /** Largest payload of one record; larger messages are fragmented (default min(capacity/4, 16 MiB) - 16; at least 64; on Xen always the default). */
  maxPayload?: number;
  /**
   * Largest message this publisher writes, declared in the ring so that
   * subscribers can refuse anything larger before allocating it (default and
   * subscribers' default cap: 64 MiB). A larger publish throws
   * ERR_RINGCAST_TOO_BIG; subscribers with a lower `maxMessageBytes` fail on
   * such a message with ERR_RINGCAST_CORRUPT. On Xen always the default.
   */
  maxMessageBytes?: number;
  /** `block` (default): wait for the slowest subscriber. `drop`: never wait, evict whoever would be overwritten. */
  policy?: SlowConsumerPolicy;
  /**
   * block: evict a subscriber that has kept the publisher waiting this long
   * (default 5000 ms; 0: wait forever, so one subscriber that stops reading
   * stops the bus for as long as it likes).
   */
  evictAfterMs?: number;
  /** block: evict instead of waiting for a subscriber this many bytes behind (default: capacity, i.e. wait). */
  maxLagBytes?: number;
  /** Evict (reason `dead`) a subscriber whose ack-page heartbeat has not moved this long (default: off; socket peers are watched through their connection; 5000 on ivshmem and Xen). */
  heartbeatTimeoutMs?: number;
  /** Most subscribers attached at once (default and maximum: the slot table size, 64). */
  maxSubscribers?: number;
  /** Peers allowed to attach, by uid or gid as seen by SO_PEERCRED (default: this process's uid). */
  allow?: { uids?: number[]; gids?: number[] };
  /**
   * Most subscribers one uid may hold at once (default: maxSubscribers when
   * the allow list names a single uid and no gid, else half of
   * maxSubscribers, so that one allowed uid cannot take every slot).
   */
  maxPerUid?: number;
  /**
   * A peer (a process, by pid; a VM guest, by its slot) evicted `slow` or
   * `protocol` twice within a minute (evictions less than 250 ms apart count
   * once) may not rejoin or attach again for this
   * long; every further such eviction doubles it, up to 64 times (default
   * 1000 ms; 0: rejoin at once, always). Its rejoin is refused with reason
   * `backoff`.
   */
  rejoinBackoffMs?: number;
  /** A connection that has not said hello by then is dropped (default 2000 ms). */
  handshakeTimeoutMs?: number;
  /** Connections still in their handshake at once; more are closed at accept (default 16). */
  maxPendingHandshakes?: number;
  /** pino logger for lifecycle events; silent by default. */
  logger?: Logger;
  /**
   * Publish to KVM/QEMU guests through ivshmem instead of a Unix socket: the
   * ring lives in `vm.ringFile`, each guest attaches through its own ack file
   * and the ivshmem server's doorbells (docs/vm.md). No socket is created
   * and `path` only names the bus, unless `vm.unixSocket` makes it a mixed
   * bus: local processes attach there too, to the same ring, which is then
   * written once for both. `heartbeatTimeoutMs` defaults to 5000 here: a
   * guest whose process died while its VM lives is found by its heartbeat.
   * Guests' joins emit `subscribe` (`{ slot, guest, peer }`), refused ones
   * `refuse` (`{ reason, guest, peer }`).
   */
  vm?: VmOptions;
  /**
   * With a `xen:DOMID/BUS` address: the receiver domains' slots (ring slot i
   * is `receivers[i]`) and how they find the bus (docs/xen.md). The ring comes
   * from the grant device (`insmod ringcast_xengrant.ko` in this domain) and
   * is granted read-only to every receiver domain: each message is written
   * once. `allow`, `maxPerUid`, `rejoinBackoffMs` and the handshake options
   * are about sockets and do not apply. Joins emit `subscribe` (`{ slot,
   * domid, domainSlot }`), refused joins `refuse` (the join answer's verdict),
   * a receiver's death `unsubscribe` with reason `dead` and `seenBy`.
   */
  xen?: XenBusOptions;
}

/** Every option of Publisher.listen: any other is refused (a typo would otherwise be ignored). */
const PUBLISHER_OPTION_NAMES = optionNames<PublisherOptionFields>({
  address: true,
  path: true,
  listen: true,
  envelopes: true,
  xenBus: true,
  capacity: true,
  maxPayload: true,
  maxMessageBytes: true,
  policy: true,
  evictAfterMs: true,
  maxLagBytes: true,
  heartbeatTimeoutMs: true,
  maxSubscribers: true,
  allow: true,
  maxPerUid: true,
  rejoinBackoffMs: true,
  handshakeTimeoutMs: true,
  maxPendingHandshakes: true,
  logger: true,
  vm: true,
  xen: true,
});

export interface PublishOptions {
  /**
   * Stops the wait for room with ERR_RINGCAST_ABORTED (messages of a batch
   * already written stay written). Aborted before the call: nothing is written.
   */
  signal?: AbortSignal;
}

export type SubscriberState = 'active' | 'lagging' | 'evicted';

/** A slot's transition, as the `state` event reports it (`detached` once the slot is free again). */
export interface StateChange {
  slot: number;
  from: SubscriberState | 'detached';
  to: SubscriberState | 'detached';
  reason: EvictionReason | null;
}

/** The `evict` event. */
export interface EvictionEvent {
  slot: number;
  reason: EvictionReason;
  lostFrom: number;
  lostTo: number;
  lostBytes: number;
  lostMessages: number;
}

export interface SubscriberStats {
  slot: number;
  state: SubscriberState;
  pid: number;
  uid: number;
  /** Last validated ack (bus position). */
  ack: number;
  /** Bytes committed that this subscriber has not acknowledged. */
  lagBytes: number;
  /** Bytes it acknowledged since it joined. */
  deliveredBytes: number;
  evictions: number;
  lostBytes: number;
  /** Messages lost at its last eviction. */
  lostMessages: number;
  /** A VM guest's name (vm.guests); absent for a local process. */
  guest?: string;
  /** Xen: the receiver's domain and its slot there. */
  domid?: number;
  domainSlot?: number;
}

export interface PublisherStats {
  head: number;
  messages: number;
  capacity: number;
  /** publish() calls waiting for room (visible backpressure). */
  pending: number;
  doorbellsRung: number;
  /** Commits that moved head (one release store each): a batch is one. */
  headStores: number;
  /**
   * Bounded spins for room in the middle of a fragmented message, while a
   * subscriber was copying out what it had not read yet (docs/protocol.md,
   * "Sleeping and waking"), and how many found the room before the bound.
   */
  roomSpins: number;
  roomSpinsFound: number;
  subscribers: SubscriberStats[];
}

/** A zero-copy reservation: fill `buffer`, then `commit()` (or `abort()`). */
export interface Claim {
  readonly buffer: Uint8Array;
  commit(length?: number): void;
  abort(): void;
}

interface Attached {
  connection: ControlConnection;
  /** Its doorbell to us, watched only while we wait for room. */
  wake: NativeFdWatcher;
  /** A channel shares its connection between both directions and closes it itself. */
  ownsConnection: boolean;
  peer: NativePeer;
  slot: number;
  joinedAt: number;
}

const REASONS: Record<number, EvictionReason> = {
  [C.RC_EVICT_SLOW]: 'slow',
  [C.RC_EVICT_PROTOCOL]: 'protocol',
  [C.RC_EVICT_DEAD]: 'dead',
  [C.RC_EVICT_CLOSED]: 'closed',
};

const STATES: Record<number, SubscriberState> = {
  [C.RC_SLOT_ACTIVE]: 'active',
  [C.RC_SLOT_LAGGING]: 'lagging',
  [C.RC_SLOT_EVICTED]: 'evicted',
};

const RESOLVED = Promise.resolve();

/** rejoinBackoffMs unless given. */
export const DEFAULT_REJOIN_BACKOFF_MS = 1000;
/**
 * How long a LAGGING subscriber must stay ACTIVE again before a `state` event says so. When the
 * publisher is faster than every reader, the one it waits for is a whole ring behind at each wait
 * and drains to nothing in between: an event per swing (about 1,300 per 100 k messages on a 64 KiB
 * ring) is noise. LAGGING is shown at once, and stays shown while the lag keeps coming back.
 * Evictions, attaches and detaches are reported at once.
 */
export const LAG_SETTLE_MS = 250;
/** Misbehaviour further apart than this is forgotten: the back-off starts again. */
const BACKOFF_MEMORY_MS = 60_000;
/**
 * Evictions of one peer this close together are one incident: a process
 * whose several subscribers one stall evicted at once is not a repeat
 * offender.
 */
const BACKOFF_INCIDENT_MS = 250;
/** The back-off grows to at most this many times rejoinBackoffMs. */
const BACKOFF_MAX_FACTOR = 64;

/** A peer's slow or protocol evictions, for the rejoin back-off. */
interface Misbehaviour {
  evictions: number;
  lastAt: number;
  /** No rejoin or attach before this (performance.now()). */
  until: number;
}

/** Messages one reserveBatch() or offerBatch() crossing takes at most (#offerFrom). */
const RESERVE_MAX_MESSAGES = 1024;
/**
 * Messages up to this size are copied into reserved records from JavaScript
 * (#offerFrom); larger ones by the core (offerBatch), whose copy_payload
 * keeps its speed where glibc's memcpy for 4 KiB and more crawls (the
 * destination 1 to 15 bytes ahead of the source modulo 4 KiB, as for a
 * message after a length prefix: RC_COPY_GUARDED_FROM in ringcast.h).
 */
const RESERVE_MAX_MESSAGE = C.RC_COPY_GUARDED_FROM - 1;

/**
 * One bus's publisher. Events: `subscribe` (`{ slot, pid, uid }`), `unsubscribe`
 * (`{ slot, reason }`), `state` (StateChange, on every slot transition), `evict`
 * (EvictionEvent), `refuse` (`{ reason, pid, uid }`), `drain` (the publish queue
 * emptied), `close`.
 */
export class Publisher extends EventEmitter<PublisherEvents> {
  readonly path: string;
  readonly capacity: number;
  readonly maxPayload: number;
  readonly maxMessageBytes: number;
  readonly policy: SlowConsumerPolicy;

  #native: NativePublisher;
  /** #native.offer bound to it (no unwrap per call): offer() is what busy-polling publishers call. */
  #nativeOffer: (message: Uint8Array) => number;
  #log: Logger;
  /** The socket's accept loop and handshake rules (src/control/server.ts), null for a VM bus or `listen: false`. */
  #server: ControlServer | null = null;
  #attached = new Map<number, Attached>();
  #maxSubscribers: number;
  #maxPerUid: number;
  #rejoinBackoffMs: number;
  /** By process (`pid N`) or guest (`guest N`, its slot): who was evicted slow or protocol lately, and until when it must wait. */
  #misbehaviour = new Map<string, Misbehaviour>();
  #queue: PublishQueue;
  #closing: Promise<void> | null = null;
  /** stats() as it was when close() finished: what stats() answers from then on. */
  #finalStats: PublisherStats | null = null;
  #data: Uint8Array | null = null;
  #claimOpen = false;
  #heartbeatTimer: NodeJS.Timeout | null = null;
  #slotStates = new Map<number, SubscriberState>();
  /** Evictions of each slot index reported so far (the core counts them). */
  #evictionsSeen = new Map<number, number>();
  /** Per slot, what the last `state` event said: LAGGING -> ACTIVE reaches it only once settled. */
  #shownStates = new Map<number, SubscriberState>();
  /** Per slot, the timer that shows LAGGING -> ACTIVE once the slot stayed ACTIVE for LAG_SETTLE_MS. */
  #settling = new Map<number, NodeJS.Timeout>();
  #vm: VmHost | null = null;
  #xen: XenHost | null = null;
  /** Xen: close() waits for subscribers to leave, then this resolves it early. */
  #lingerDone: (() => void) | null = null;
  /** VM guests' join positions by slot (socket subscribers keep theirs in #attached). */
  #vmJoinedAt = new Map<number, number>();
  /** The data area that #offerFrom copies into (the addon revokes it at destroy(), unlike #data). */
  #copyTarget: Uint8Array | null = null;
  /** #offerFrom's reservations: each message's length, and where its payload goes in #copyTarget. */
  #reserveLengths: Uint32Array | null = null;
  #reserveOffsets: Float64Array | null = null;

  private constructor(given: PublisherOptions) {
    super();
    if (typeof given !== 'object' || given === null) throw invalidOption('options', given, 'an object');
    checkKnownOptions('Publisher.listen', given, PUBLISHER_OPTION_NAMES);
    const options: PublisherOptionFields = { ...given, ...resolvePublisherAddress(given) };
    const vm = options.vm === undefined ? null : checkVmOptions(options.vm);
    // A mixed bus is found by its socket; a VM-only bus's path only names it.
    this.path = vm?.unixSocket ?? checkPath('path', options.path);
    if (options.xen !== undefined && !options.xenBus) throw invalidOption('xen', options.xen, 'a value only with a xen:DOMID/BUS address');
    const xen = options.xenBus ? checkXenBusOptions(options.xenBus, options.xen) : null;
    // A Xen ring is granted page by page to every receiver domain: at most RC_XEN_MAX_CAPACITY.
    this.capacity = xen ? checkCapacity(options.capacity, Math.min(4 * 1024 * 1024, C.RC_XEN_MAX_CAPACITY)) : checkCapacity(options.capacity);
    this.maxPayload = checkInteger('maxPayload', options.maxPayload, native.defaultMaxPayload(this.capacity), C.RC_MIN_MAX_PAYLOAD, this.capacity / 2 - 2 * C.RC_RECORD_HEADER_SIZE);
    this.maxMessageBytes = checkInteger('maxMessageBytes', options.maxMessageBytes, Math.max(C.RC_DEFAULT_MAX_MESSAGE, this.maxPayload), this.maxPayload, MAX_BUFFER_LENGTH);
    this.policy = checkPolicy(options.policy);
    this.#maxSubscribers = checkInteger('maxSubscribers', options.maxSubscribers, C.RC_MAX_SUBSCRIBERS, 1, C.RC_MAX_SUBSCRIBERS);
    const handshakeTimeoutMs = checkInteger('handshakeTimeoutMs', options.handshakeTimeoutMs, 2000, 1, 600_000);
    const maxPendingHandshakes = checkMaxPendingHandshakes(options.maxPendingHandshakes);
    const allow = checkAllow(options.allow);
    const singleUid = allow.uids.length <= 1 && allow.gids.length === 0;
    this.#maxPerUid = checkInteger('maxPerUid', options.maxPerUid, singleUid ? this.#maxSubscribers : Math.max(1, Math.floor(this.#maxSubscribers / 2)), 1, C.RC_MAX_SUBSCRIBERS);
    this.#rejoinBackoffMs = checkInteger('rejoinBackoffMs', options.rejoinBackoffMs, DEFAULT_REJOIN_BACKOFF_MS, 0, 600_000);
    this.#log = resolveLogger(options.logger, 'publisher');
    // Unbounded blocking only when asked for (0): the default resists a subscriber that never reads.
    const evictAfterMs = checkEvictAfterMs(options.evictAfterMs, this.policy);
    const minLag = native.minMaxLag(this.maxPayload);
    const maxLagBytes = options.maxLagBytes === undefined ? 0 : checkInteger('maxLagBytes', options.maxLagBytes, 0, minLag, this.capacity);
    const heartbeatTimeoutMs = options.heartbeatTimeoutMs === undefined ? (vm ? 5000 : xen ? XEN_DEFAULT_HEARTBEAT_MS : 0) : checkInteger('heartbeatTimeoutMs', options.heartbeatTimeoutMs, 0, 10, 3_600_000);
    const policy = this.policy === 'drop' ? C.RC_POLICY_DROP : C.RC_POLICY_BLOCK;

    if (xen) {
      // The grant device formats the ring with the core's defaults.
      if (this.maxPayload !== native.defaultMaxPayload(this.capacity)) throw invalidOption('maxPayload', options.maxPayload, 'the default on a Xen bus');
      if (this.maxMessageBytes !== C.RC_DEFAULT_MAX_MESSAGE) throw invalidOption('maxMessageBytes', options.maxMessageBytes, 'the default on a Xen bus');
      const features = options.envelopes === true ? C.RC_FEATURE_ENVELOPE : 0;
      this.#xen = new XenHost(xen, { capacity: this.capacity, policy, heartbeatTimeoutMs, features }, (changes, error) => this.#onXenService(changes, error));
      // A Xen ring has no socket: the socket-only calls (attach, detach, handedOver, ringFd) are never made.
      this.#native = this.#xen.ring as NativeRingWriter as NativePublisher;
    } else {
      const id = randomBytes(8);
      this.#native = new native.Publisher(
        this.capacity,
        this.maxPayload,
        policy,
        id.readUInt32BE(0),
        id.readUInt32BE(4),
        options.envelopes === true ? C.RC_FEATURE_ENVELOPE : 0,
        vm?.ringFile,
        vm?.fileMode,
        this.maxMessageBytes,
        vm?.unixSocket != null,
      );
    }
    this.#queue = new PublishQueue(
      this.#native,
      {
        closing: () => this.#closing !== null,
        drained: () => this.emit('drain'),
        changed: () => this.#processChanges(),
        // Acks ring our doorbells only while we wait: watch them only then.
        sleeping: (asleep) => {
          for (const attached of this.#attached.values()) {
            if (asleep) attached.wake.start();
            else attached.wake.stop();
          }
        },
      },
      evictAfterMs,
    );
    this.#nativeOffer = this.#native.offerFunction();
    if (options.listen !== false && !xen && (!vm || vm.unixSocket !== null)) {
      try {
        this.#server = new ControlServer({
          path: this.path,
          noun: 'bus',
          roles: ['subscribe', 'inspect'],
          wrongRole: () => `${this.path} is a bus; use Subscriber.connect`,
          allow,
          handshakeTimeoutMs,
          maxPendingHandshakes,
          log: this.#log,
          refused: (event) => this.emit('refuse', event),
          hello: (handshake, role) => this.#hello(handshake, role),
        });
      } catch (error) {
        this.#native.destroy();
        throw wrapSystem(error, `cannot listen on ${this.path}`);
      }
    }
    if (maxLagBytes && !this.#native.setMaxLag(maxLagBytes)) {
      this.#xen?.stop();
      this.#native.destroy();
      throw invalidOption('maxLagBytes', maxLagBytes, `an integer from ${minLag} to ${this.capacity}`);
    }
    if (vm) {
      try {
        this.#vm = new VmHost(this.#native, vm, (result) => this.#onVmService(result));
      } catch (error) {
        this.#native.destroy();
        if ((error as { code?: string }).code === 'ERR_RINGCAST_INVALID_OPTION') throw invalidOption('vm', options.vm, `usable ack files and server (${(error as Error).message})`);
        throw wrapSystem(error, `cannot serve guests through ${vm.ivshmemServer}`);
      }
    }
    // Xen checks heartbeats in its own service pass: a stopped heartbeat is a receiver's death there.
    if (heartbeatTimeoutMs && !xen) {
      this.#heartbeatTimer = setInterval(() => {
        if (this.#native.checkHeartbeats(Math.floor(performance.now()) + 1, heartbeatTimeoutMs) > 0) {
          this.#processChanges();
          this.#wakeUp();
        }
      }, Math.max(5, heartbeatTimeoutMs / 4));
      this.#heartbeatTimer.unref();
    }
    this.#log.info({ path: this.path, capacity: this.capacity, policy: this.policy }, 'bus listening');
  }

  /** Creates the ring and starts listening on `options.path`. */
  static async listen(options: PublisherOptions): Promise<Publisher> {
    const publisher = new Publisher(options);
    track('publisher', publisher, publisher.#server === null ? null : unlinkSocketAtExit(publisher.path));
    reportEvent('publisher', publisher, 'listen', { capacity: publisher.capacity, maxPayload: publisher.maxPayload, policy: publisher.policy });
    return publisher;
  }

  /** Every event also goes to the `ringcast:publisher` diagnostics channel (src/diagnostics.ts). */
  override emit<K extends keyof PublisherEvents>(event: K, ...args: PublisherEvents[K]): boolean {
    reportEvent('publisher', this, event, args[0]);
    return (super.emit as (event: K, ...args: PublisherEvents[K]) => boolean)(event, ...args);
  }

  /** Subscribers attached now (evicted ones included until they rejoin or leave). */
  get subscriberCount(): number {
    if (this.#xen) return this.#xen.attached;
    return this.#vm ? this.#slotStates.size : this.#attached.size;
  }

  /** On a Xen bus (a `xen:` address): this domain, the ring's pages and the manual rendezvous lines; else null. */
  get xen(): XenBusInfo | null {
    return this.#xen;
  }

  /** publish() calls waiting for room. */
  get pending(): number {
    return this.#queue.queued;
  }

  get closed(): boolean {
    return this.#closing !== null;
  }

  /**
   * Writes the message if it fits now, without waiting. False means no room
   * (or earlier publishes are still queued: order is kept).
   */
  offer(message: Uint8Array): boolean {
    this.#assertOpen();
    this.#checkMessage(message);
    if (this.#queue.queued > 0 || this.#claimOpen) return false;
    return message.length <= this.maxPayload && this.#offerNow(message);
  }

  /** Writes one message, waiting for room if the slowest subscriber holds it. */
  publish(message: Uint8Array, options?: PublishOptions): Promise<void> {
    this.#assertOpen();
    this.#checkMessage(message);
    this.#assertNoClaim();
    const signal = checkSignal(options?.signal);
    // Aborted already: nothing is written, even when there is room (as waitForSubscribers, recv, connect).
    if (signal !== undefined && signal.aborted) return Promise.reject(abortError(signal));
    if (this.#queue.queued === 0 && !this.#claimOpen && message.length <= this.maxPayload && this.#offerNow(message)) {
      return RESOLVED;
    }
    return this.#enqueue(() => this.#publishSlow(message, signal));
  }

  /**
   * Writes many messages with as few head stores (and doorbells) as room allows.
   * The array is copied at the call: changing it afterwards changes nothing
   * sent. A message whose bytes cannot be read (a view of a detached
   * ArrayBuffer, or whose `length` disagrees with its bytes) is refused with
   * `ERR_RINGCAST_INVALID_OPTION`: at the call, nothing of the batch is
   * written; if it became so while the batch waited for room, the messages
   * before it are written and the promise rejects there.
   */
  publishBatch(messages: readonly Uint8Array[], options?: PublishOptions): Promise<void> {
    this.#assertOpen();
    this.#assertNoClaim();
    if (!Array.isArray(messages)) throw invalidOption('messages', messages, 'an array of Uint8Array');
    // Our own copy of the array: what the caller does to theirs after this
    // call (or an element getter, or a Proxy) cannot change what is sent.
    const list = Array.prototype.slice.call(messages) as unknown[];
    for (let i = 0; i < list.length; i++) this.#checkMessage(list[i]);
    const signal = checkSignal(options?.signal);
    if (signal !== undefined && signal.aborted) return Promise.reject(abortError(signal));
    if (this.#queue.queued === 0 && !this.#claimOpen) {
      const done = this.#offerFrom(list as Uint8Array[], 0);
      this.#processChanges();
      // Any message written is progress: a clock left running by an earlier
      // wait must not evict for time spent before this write.
      if (done > 0) this.#queue.progressed();
      if (done === list.length) return RESOLVED;
      return this.#enqueue(() => this.#publishRest(list as Uint8Array[], done, signal));
    }
    return this.#enqueue(() => this.#publishRest(list as Uint8Array[], 0, signal));
  }

  /** Zero-copy: reserves `length` bytes in the ring now, or returns null if there is no room. */
  tryClaim(length: number): Claim | null {
    this.#assertOpen();
    this.#checkClaimLength(length);
    if (this.#queue.queued > 0 || this.#claimOpen) return null;
    return this.#claim(length);
  }

  /** Zero-copy: reserves `length` bytes, waiting for room. Commit or abort it before the next publish. */
  async claim(length: number, options?: PublishOptions): Promise<Claim> {
    this.#assertOpen();
    this.#checkClaimLength(length);
    this.#assertNoClaim();
    const signal = checkSignal(options?.signal);
    if (signal?.aborted) throw abortError(signal);
    let claim: Claim | null = null;
    await this.#enqueue(async () => {
      this.#assertNoClaim();
      while ((claim = this.#claim(length)) === null) await this.#waitForRoom(length, signal);
    });
    return claim!;
  }

  /** A Writable whose chunks are published as messages; ending it closes the bus unless closeOnEnd is false. */
  createWriteStream(options: StreamOptions & { closeOnEnd?: boolean } = {}): Writable {
    return writableTo(this, options.closeOnEnd === false ? undefined : () => this.close(), options);
  }

  /** The most subscribers that can be attached at once: local processes through the socket, guests, Xen receivers. */
  #mostSubscribers(): number {
    if (this.#xen) return this.#xen.receivers.length;
    const guests = this.#vm?.guests.length ?? 0;
    return Math.min(C.RC_MAX_SUBSCRIBERS, guests + (this.#server ? this.#maxSubscribers : 0));
  }

  /**
   * Resolves once `count` subscribers are attached (at once if they already
   * are); rejects with ERR_RINGCAST_ABORTED when `signal` aborts and with
   * ERR_RINGCAST_CLOSED when the publisher closes first. A count above what
   * the bus admits (`maxSubscribers` local processes, its guests, its Xen
   * receivers; 64 at most) is ERR_RINGCAST_INVALID_OPTION at once.
   */
  waitForSubscribers(count: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    try {
      checkInteger('count', count, 0, 0, C.RC_MAX_SUBSCRIBERS);
      // A count this bus can never reach would wait for ever.
      const admitted = this.#mostSubscribers();
      if (count > admitted) throw invalidOption('count', count, `at most ${admitted}, the most subscribers this bus admits (maxSubscribers, guests, receivers)`);
      const signal = checkSignal(options?.signal);
      this.#assertOpen();
      if (signal?.aborted) throw abortError(signal);
      if (this.subscriberCount >= count) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const settle = (error?: RingcastError): void => {
          this.off('subscribe', onSubscribe);
          this.off('close', onClose);
          signal?.removeEventListener('abort', onAbort);
          if (error) reject(error);
          else resolve();
        };
        const onSubscribe = (): void => {
          if (this.subscriberCount >= count) settle();
        };
        const onClose = (): void => settle(closedError('publisher'));
        const onAbort = (): void => settle(abortError(signal!));
        this.on('subscribe', onSubscribe);
        this.on('close', onClose);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    } catch (error) {
      return Promise.reject(error as Error);
    }
  }

  /** A snapshot of the bus and of every attached subscriber; after close(), the final one. */
  stats(): PublisherStats {
    if (this.#finalStats) return this.#finalStats;
    const raw = this.#native.stats(); // re-reads every ack: LAGGING is re-evaluated here too
    this.#processChanges();
    const subscribers: SubscriberStats[] = [];
    for (const slot of raw.slots) {
      const attached = this.#attached.get(slot.slot);
      const receiver = this.#xen?.receivers[slot.slot];
      subscribers.push({
        slot: slot.slot,
        state: STATES[slot.state] ?? 'evicted',
        pid: attached?.peer.pid ?? 0,
        uid: attached?.peer.uid ?? 0,
        ack: slot.ack,
        lagBytes: raw.head - slot.ack,
        deliveredBytes: slot.ack - (attached?.joinedAt ?? this.#vmJoinedAt.get(slot.slot) ?? slot.ack),
        evictions: slot.evictions,
        lostBytes: slot.state === C.RC_SLOT_EVICTED ? slot.lostTo - slot.lostFrom : 0,
        lostMessages: slot.state === C.RC_SLOT_EVICTED ? slot.lostMessages : 0,
        ...(attached || !this.#vm?.guests[slot.slot] ? {} : { guest: this.#vm.guests[slot.slot]!.name }),
        ...(receiver && { domid: receiver.domid, domainSlot: receiver.slot }),
      });
    }
    return {
      head: raw.head,
      messages: raw.messages,
      capacity: this.capacity,
      pending: this.#queue.queued,
      doorbellsRung: raw.doorbellsRung,
      headStores: raw.headStores,
      roomSpins: raw.roomSpins,
      roomSpinsFound: raw.roomSpinsFound,
      subscribers,
    };
  }

  /**
   * Orderly close: publishes still waiting for room reject with
   * ERR_RINGCAST_CLOSED, the ring is marked closed (subscribers drain what
   * was committed, then end), connections and the socket go away.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = (async () => {
      this.#native.close();
      if (this.#heartbeatTimer) clearInterval(this.#heartbeatTimer);
      for (const timer of this.#settling.values()) clearTimeout(timer);
      this.#settling.clear();
      this.#wakeUp();
      await this.#queue.settled();
      if (this.#xen) await this.#linger(this.#xen);
      this.#finalStats = this.stats();
      this.#server?.close();
      // Only now: a process that exits while close() is under way (ringcast
      // pub on SIGTERM) still has the exit hook remove the socket path.
      untrack(this);
      for (const attached of this.#attached.values()) {
        attached.wake.close();
        if (attached.ownsConnection) attached.connection.close();
      }
      this.#attached.clear();
      this.#data = null;
      this.#copyTarget = null;
      this.#vm?.destroy(); // it works on the native publisher: first
      this.#vm = null;
      this.#xen?.stop();
      this.#native.destroy();
      this.#log.info({ path: this.path }, 'bus closed');
      this.emit('close');
    })();
    return this.#closing;
  }

  /**
   * Ends the bus cut short, for a stream whose source did not end (interrupted,
   * failed): like close(), but subscribers, once they have read everything
   * committed, fail with PublisherAbortedError (ERR_RINGCAST_PUBLISHER_ABORTED)
   * instead of ending. The ring says so at once, before the promise settles.
   * After close() it changes nothing: that stream was complete.
   */
  abort(): Promise<void> {
    if (!this.#closing) this.#native.abort();
    return this.close();
  }

  // ---- publishing internals ----------------------------------------------

  #assertOpen(): void {
    if (this.#closing) throw closedError('publisher');
  }

  /** One zero-copy claim at a time, and nothing else is published while it is open. */
  #assertNoClaim(): void {
    if (this.#claimOpen) throw new RingcastError('ERR_RINGCAST_STATE', 'a claim is open: commit or abort it first');
  }

  #checkMessage(message: unknown): asserts message is Uint8Array {
    checkMessage(message);
    if (message.length > this.maxMessageBytes) {
      throw new RingcastError('ERR_RINGCAST_TOO_BIG', `message of ${message.length} bytes exceeds maxMessageBytes ${this.maxMessageBytes}`);
    }
  }

  #enqueue(job: () => Promise<void>): Promise<void> {
    return this.#queue.enqueue(job);
  }

  async #publishSlow(message: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    // Queued: the view may have been detached since publish() checked it.
    if (readableLength(message) <= this.maxPayload) {
      while (!this.#offerNow(message)) await this.#waitForRoom(message.length, signal);
      return;
    }
    // Fragments are committed as they are written so a message larger than
    // the ring can flow. Once begun it is finished: an abort here would leave
    // subscribers a message without its end.
    let offset = 0;
    for (;;) {
      const before = offset;
      offset = this.#native.writePart(message, offset);
      this.#processChanges();
      if (offset > before) this.#queue.progressed();
      if (offset === message.length) return;
      await this.#waitForRoom(message.length - offset, undefined);
    }
  }

  async #publishRest(messages: Uint8Array[], start: number, signal: AbortSignal | undefined): Promise<void> {
    let index = start;
    while (index < messages.length) {
      const message = messages[index]!;
      if (message.length > this.maxPayload) {
        await this.#publishSlow(message, signal);
        index++;
        continue;
      }
      const next = this.#offerFrom(messages, index);
      this.#processChanges();
      if (next > index) this.#queue.progressed();
      else await this.#waitForRoom(message.length, signal);
      index = next;
    }
  }

  /**
   * Writes whole messages from `start` while they fit, committing once per
   * crossing into the addon; returns the index after the last one written
   * (it stops before one larger than a record: #publishRest sends that in
   * parts). For messages below 4 KiB the addon reserves the records
   * (headers written, nothing committed yet), this copies each message
   * straight into its record in the ring, and the commit publishes them with
   * one head store: one copy per byte, and no lookup of each message in the
   * addon, which costs more than copying 1 KiB (docs/protocol.md,
   * "publishBatch"). A run of larger ones goes to the core by reference.
   */
  #offerFrom(messages: Uint8Array[], start: number): number {
    const ring = (this.#copyTarget ??= new Uint8Array(this.#native.copyTarget()));
    const lengths = (this.#reserveLengths ??= new Uint32Array(RESERVE_MAX_MESSAGES));
    const offsets = (this.#reserveOffsets ??= new Float64Array(RESERVE_MAX_MESSAGES));
    const maxPayload = this.maxPayload;
    let index = start;
    while (index < messages.length) {
      let count = 0;
      for (; index + count < messages.length && count < RESERVE_MAX_MESSAGES; count++) {
        // -1: it cannot be copied; refused below once it leads a run.
        const length = copyableLength(messages[index + count]!);
        if (length > RESERVE_MAX_MESSAGE || length < 0) break;
        lengths[count] = length;
      }
      if (count === 0) {
        readableLength(messages[index]!);
        // At most RESERVE_MAX_MESSAGES a call: they go on the stack as arguments (offerBatch).
        const most = Math.min(messages.length, index + RESERVE_MAX_MESSAGES);
        let end = index;
        while (end < most && messages[end]!.length > RESERVE_MAX_MESSAGE && messages[end]!.length <= maxPayload) end++;
        if (end === index) break;
        const run = index === 0 && end === messages.length ? messages : messages.slice(index, end);
        const next = index + this.#native.offerBatch(...run);
        if (next < end) return next;
        index = next;
        continue;
      }
      const reserved = this.#native.reserveBatch(lengths, count, offsets);
      // Nothing else may run between the reservation and the commit: the
      // records are counted as written, and the commit publishes whatever
      // their payloads hold then.
      for (let i = 0; i < reserved; i++) ring.set(messages[index + i]!, offsets[i]!);
      this.#native.commit();
      index += reserved;
      if (reserved < count) break;
    }
    return index;
  }

  /** One whole message now, or false; reports slot transitions the write caused. */
  #offerNow(message: Uint8Array): boolean {
    const result = this.#nativeOffer(message);
    if (result & 2) this.#processChanges();
    if (result & 1) this.#queue.progressed();
    return (result & 1) === 1;
  }

  /** Turns the core's slot transitions into events (and log lines). */
  #processChanges(): void {
    for (const change of this.#native.takeChanges()) {
      const to: SubscriberState | 'detached' = change.state === C.RC_SLOT_FREE ? 'detached' : (STATES[change.state] ?? 'evicted');
      if (to === 'detached') this.#slotStates.delete(change.slot);
      else this.#slotStates.set(change.slot, to);
      // Counted, not inferred from the state: a guest can be evicted and
      // rejoin through shared memory before we look (ACTIVE then, as before).
      const evicted = change.evictions > (this.#evictionsSeen.get(change.slot) ?? 0);
      this.#evictionsSeen.set(change.slot, change.evictions);
      if (evicted) {
        const reason = REASONS[change.evictReason] ?? 'slow';
        this.#showState(change.slot, 'evicted', reason);
        const event: EvictionEvent = {
          slot: change.slot,
          reason,
          lostFrom: change.lostFrom,
          lostTo: change.lostTo,
          lostBytes: Math.max(0, change.lostTo - change.lostFrom),
          lostMessages: change.lostMessages,
        };
        this.#log.warn(event, 'subscriber evicted');
        if (reason === 'slow' || reason === 'protocol') this.#misbehaved(change.slot);
        this.emit('evict', event);
      }
      const shown = this.#shownStates.get(change.slot);
      if (to === 'active' && shown === 'lagging') this.#settle(change.slot);
      else this.#showState(change.slot, to, to === 'evicted' || to === 'detached' ? (REASONS[change.reason] ?? null) : null);
    }
  }

  /** Emits `state` for a slot unless that is what the last one said; ends a pending swing. */
  #showState(slot: number, to: SubscriberState | 'detached', reason: EvictionReason | null): void {
    const timer = this.#settling.get(slot);
    if (timer) {
      clearTimeout(timer);
      this.#settling.delete(slot);
    }
    const from = this.#shownStates.get(slot) ?? 'detached';
    if (to === 'detached') this.#shownStates.delete(slot);
    else this.#shownStates.set(slot, to);
    if (from !== to) this.emit('state', { slot, from, to, reason } satisfies StateChange);
  }

  /** LAGGING -> ACTIVE: shown once the slot stayed ACTIVE for LAG_SETTLE_MS (a return to LAGGING cancels it). */
  #settle(slot: number): void {
    clearTimeout(this.#settling.get(slot));
    const timer = setTimeout(() => {
      this.#settling.delete(slot);
      this.#processChanges();
      if (!this.#settling.has(slot) && this.#slotStates.get(slot) === 'active') this.#showState(slot, 'active', null);
    }, LAG_SETTLE_MS);
    timer.unref();
    this.#settling.set(slot, timer);
  }

  /**
   * A peer was evicted slow or protocol: the second time within a minute, it
   * must wait before it comes back. A socket peer is known by its pid (its
   * rejoin or hello is refused here); a VM guest or a Xen receiver by its
   * slot (the shared join code, core/rc_join.c, refuses its joins).
   */
  #misbehaved(slot: number): void {
    if (this.#rejoinBackoffMs === 0) return;
    const pid = this.#attached.get(slot)?.peer.pid;
    const key = pid ? `pid ${pid}` : this.#vm ? `guest ${slot}` : this.#xen ? `receiver ${slot}` : null;
    if (key === null) return;
    const now = performance.now();
    if (this.#misbehaviour.size >= 1024) {
      for (const [known, record] of this.#misbehaviour) if (now - record.lastAt > BACKOFF_MEMORY_MS) this.#misbehaviour.delete(known);
    }
    const last = this.#misbehaviour.get(key);
    if (last && now - last.lastAt < BACKOFF_INCIDENT_MS) return;
    const evictions = last && now - last.lastAt <= BACKOFF_MEMORY_MS ? last.evictions + 1 : 1;
    const wait = evictions < 2 ? 0 : Math.min(2 ** (evictions - 2), BACKOFF_MAX_FACTOR) * this.#rejoinBackoffMs;
    this.#misbehaviour.set(key, { evictions, lastAt: now, until: now + wait });
    if (wait > 0 && !pid) (this.#vm ?? this.#xen)!.backoff(slot, wait);
  }

  /** Why the process `pid` may not come back yet, or null. */
  #backoff(pid: number): string | null {
    const record = this.#misbehaviour.get(`pid ${pid}`);
    const wait = record ? Math.ceil(record.until - performance.now()) : 0;
    if (!record || wait <= 0) return null;
    return `pid ${pid} was evicted (slow or protocol) ${record.evictions} times within a minute; it may come back in ${wait} ms`;
  }

  #waitForRoom(length: number, signal: AbortSignal | undefined): Promise<void> {
    return this.#queue.waitForRoom(length, signal);
  }

  #wakeUp(): void {
    this.#queue.wake();
  }

  #checkClaimLength(length: number): void {
    if (!Number.isInteger(length) || length < 0) throw invalidOption('length', length, 'a non-negative integer');
    if (length > this.maxPayload) {
      throw new RingcastError('ERR_RINGCAST_TOO_BIG', `claim of ${length} bytes exceeds maxPayload ${this.maxPayload}`);
    }
  }

  #claim(length: number): Claim | null {
    const offset = this.#native.claim(length);
    this.#processChanges();
    if (offset === C.RC_EAGAIN) return null;
    this.#queue.progressed();
    if (offset < 0) throw new RingcastError('ERR_RINGCAST_STATE', `claim failed (status ${offset})`);
    this.#data ??= new Uint8Array(this.#native.data);
    this.#claimOpen = true;
    let done = false;
    const finish = (): void => {
      if (done) throw new RingcastError('ERR_RINGCAST_STATE', 'claim already committed or aborted');
      done = true;
      this.#claimOpen = false;
    };
    return {
      buffer: this.#data.subarray(offset, offset + length),
      commit: (committed = length) => {
        if (!Number.isInteger(committed) || committed < 0 || committed > length) {
          throw invalidOption('length', committed, `an integer from 0 to ${length}`);
        }
        finish();
        // After close() head is final: the core refuses, say so plainly.
        if (this.#closing) throw closedError('publisher');
        this.#native.claimCommit(committed);
      },
      abort: () => {
        finish();
        this.#native.claimAbort();
      },
    };
  }

  // ---- control plane -----------------------------------------------------

  /**
   * A pass of the Xen host: receivers joined, left, died or were refused
   * (the ring's slot transitions follow through takeChanges, as for every
   * provider); acks may have made room.
   */
  #onXenService(changes: XenSlotChange[], error?: unknown): void {
    if (error) this.#log.error({ err: error }, 'Xen event channel failed');
    this.#processChanges();
    for (const change of changes) {
      const where = { slot: change.slot, domid: change.domid, domainSlot: change.domainSlot };
      switch (change.kind) {
        case 'joined':
          this.#vmJoinedAt.set(change.slot, this.#native.stats().head);
          this.#log.info(where, 'subscriber joined');
          this.emit('subscribe', { ...where, pid: 0, uid: 0 });
          break;
        case 'left':
          this.#log.info(where, 'subscriber left');
          this.emit('unsubscribe', { ...where, reason: 'closed' });
          break;
        case 'dead':
          this.#log.warn({ ...where, seenBy: change.seenBy }, 'subscriber dead');
          this.emit('unsubscribe', { ...where, reason: 'dead', seenBy: change.seenBy });
          break;
        case 'refused':
          this.#log.warn({ ...where, verdict: change.verdict }, 'join refused');
          this.emit('refuse', { ...where, reason: change.verdict ?? 'refused', pid: 0, uid: 0 });
          break;
      }
    }
    this.#wakeUp();
    if (this.#lingerDone && this.#xen!.attached === 0) this.#lingerDone();
  }

  /**
   * Xen: the ring is closed; receivers read the rest and leave (their joins
   * are refused `closing`) for up to xen.lingerMs, before the grants go.
   */
  async #linger(xen: XenHost): Promise<void> {
    const lingerMs = xen.settings.lingerMs;
    if (xen.attached === 0 || lingerMs === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, lingerMs);
      this.#lingerDone = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#lingerDone = null;
  }

  /** A pass of the ivshmem host: guests joined, were refused, or their VM left the server. */
  #onVmService(result: VmServiceResult): void {
    if (!this.#vm) return; // closed meanwhile
    this.#processChanges();
    const guests = this.#vm.guests;
    // The core attached them at the current head, just now.
    const head = result.accepted.length > 0 ? this.#native.stats().head : 0;
    for (const slot of result.accepted) {
      this.#vmJoinedAt.set(slot, head);
      const peer = this.#vm!.bound()[slot]?.peer ?? -1;
      this.#log.info({ slot, guest: guests[slot]!.name, peer }, 'guest attached');
      this.emit('subscribe', { slot, pid: 0, uid: 0, guest: guests[slot]!.name, peer });
    }
    for (const { slot, verdict, peer } of result.rejected) {
      const reason = verdictName(verdict);
      this.#log.warn({ slot, guest: guests[slot]!.name, peer, reason }, 'guest join refused');
      this.emit('refuse', { reason, pid: 0, uid: 0, guest: guests[slot]!.name, peer });
    }
    for (const slot of result.left) {
      this.#log.info({ slot, guest: guests[slot]!.name, reason: 'closed' }, 'guest detached');
      this.emit('unsubscribe', { slot, reason: 'closed' });
    }
    // A guest that left first is unbound already; its VM's doorbells go only now.
    for (const peer of result.peersGone) this.#log.debug({ peer }, 'ivshmem peer left the server');
    if (result.error !== 0) this.#log.error({ errno: result.error }, 'ivshmem server connection lost; guests were evicted');
    this.#wakeUp(); // acks of guests, or the slowest guest left
  }

  /**
   * An allowed peer said hello (src/control/server.ts checked the allow list
   * at accept, the version and the role): attach it, or answer an inspect.
   */
  #hello(handshake: Handshake, role: HelloMessage['role']): ControlSession | void {
    const { peer, connection } = handshake;
    if (role === 'inspect') {
      const nextSeq = this.#native.stats().messages;
      connection.trySend({ type: 'welcome', version: PROTOCOL_VERSION, slot: -1, generation: 0, nextSeq }, [this.#native.ringFd]);
      return handshake.end();
    }
    const wait = this.#backoff(peer.pid);
    if (wait) return handshake.refuse('backoff', wait);
    if (this.#attached.size >= this.#maxSubscribers) return handshake.refuse('full', `bus has ${this.#maxSubscribers} subscribers`);
    let sameUid = 0;
    for (const a of this.#attached.values()) if (a.peer.uid === peer.uid) sameUid++;
    if (sameUid >= this.#maxPerUid) return handshake.refuse('quota', `uid ${peer.uid} already holds ${sameUid} subscriptions`);
    let attached = this.#attach(connection, peer);
    if (attached === null) return handshake.refuse('full', 'no free slot');
    handshake.established();
    // Why the slot goes when the connection closes: the peer's death, unless we ended it for a violation.
    let closedFor = C.RC_EVICT_DEAD;
    return {
      message: (message, fds) => {
        for (const fd of fds) native.closeFd(fd); // subscribers never send descriptors
        if (attached === null) return;
        if (message.type === 'detach') {
          this.#release(attached, C.RC_EVICT_CLOSED);
          attached = null;
          handshake.end();
        } else if (message.type === 'rejoin') {
          const wait = this.#backoff(peer.pid);
          // Refused, not dropped: it stays evicted, and may ask again later.
          if (wait) handshake.tell('backoff', wait);
          else if (!this.#rejoin(attached)) {
            attached = null;
            handshake.refuse('full', 'no free slot to rejoin');
          }
        } else {
          closedFor = C.RC_EVICT_PROTOCOL;
          handshake.refuse('protocol', `unexpected ${message.type} after attach`);
        }
      },
      violation: (detail) => {
        this.#log.warn({ pid: peer.pid, uid: peer.uid, detail }, 'control protocol violation');
        if (attached === null) return;
        closedFor = C.RC_EVICT_PROTOCOL;
        this.#native.evict(attached.slot, C.RC_EVICT_PROTOCOL);
        this.#processChanges();
      },
      closed: () => {
        if (attached) this.#release(attached, closedFor);
        attached = null;
      },
    };
  }

  /** @internal A channel's own peer, on the channel's connection. */
  _attachPeer(connection: ControlConnection, peer: NativePeer): number | null {
    return this.#attach(connection, peer, false)?.slot ?? null;
  }

  /** @internal The channel's peer left: `detached` (orderly) or its connection closed. */
  _releasePeer(slot: number, detached: boolean): void {
    const attached = this.#attached.get(slot);
    if (attached) this.#release(attached, detached ? C.RC_EVICT_CLOSED : C.RC_EVICT_DEAD);
  }

  #attach(connection: ControlConnection, peer: NativePeer, ownsConnection = true): Attached | null {
    const grant = this.#native.attach(peer.pid, peer.uid);
    if (grant === null) return null;
    // The first message it will receive: not one the publisher is part-way through (it skips that one's tail).
    const { head, joinSeq: nextSeq } = this.#native.stats();
    const wake = new native.FdWatcher(grant.wakeFd, true, () => this.#wakeUp());
    const attached: Attached = { connection, wake, ownsConnection, peer, slot: grant.slot, joinedAt: head };
    try {
      connection.send({ type: 'welcome', version: PROTOCOL_VERSION, slot: grant.slot, generation: grant.generation, nextSeq }, [
        this.#native.ringFd,
        grant.ackFd,
        grant.doorbellFd,
        grant.wakeFd,
      ]);
    } catch (error) {
      wake.close();
      this.#native.detach(grant.slot, C.RC_EVICT_DEAD);
      this.#log.warn({ err: error, pid: peer.pid }, 'welcome failed');
      return null;
    }
    // No process of our uid may reach the ack page through our descriptors from now on.
    this.#native.handedOver(grant.slot);
    this.#attached.set(grant.slot, attached);
    this.#processChanges();
    this.#log.info({ slot: grant.slot, pid: peer.pid, uid: peer.uid }, 'subscriber attached');
    this.emit('subscribe', { slot: grant.slot, pid: peer.pid, uid: peer.uid });
    return attached;
  }

  /** A fresh slot for an evicted subscriber on its connection; false if none is free. */
  #rejoin(attached: Attached): boolean {
    attached.wake.close();
    this.#native.detach(attached.slot, C.RC_EVICT_CLOSED);
    this.#attached.delete(attached.slot);
    this.#wakeUp(); // it may have been the one holding the publisher back
    const again = this.#attach(attached.connection, attached.peer);
    if (again === null) return false;
    // The connection's handlers hold `attached`: keep that object current.
    Object.assign(attached, again);
    this.#attached.set(attached.slot, attached);
    return true;
  }

  #release(attached: Attached, reason: number): void {
    if (this.#attached.get(attached.slot) !== attached) return;
    this.#attached.delete(attached.slot);
    attached.wake.close();
    if (this.#closing) return;
    this.#native.detach(attached.slot, reason);
    this.#processChanges();
    const why = REASONS[reason] ?? 'dead';
    this.#log.info({ slot: attached.slot, pid: attached.peer.pid, reason: why }, 'subscriber detached');
    this.emit('unsubscribe', { slot: attached.slot, reason: why });
    this.#wakeUp(); // the slowest may have left
  }
}

function checkMessage(message: unknown): asserts message is Uint8Array {
  if (!(message instanceof Uint8Array)) throw invalidOption('message', typeof message, 'a Uint8Array or Buffer');
  try {
    readableLength(message);
  } catch (error) {
    // An object that only inherits from Uint8Array has no bytes: the intrinsic getter throws.
    if (error instanceof RingcastError) throw error;
    throw invalidOption('message', 'an object inheriting from Uint8Array without being one', 'a Uint8Array or Buffer');
  }
}

/** %TypedArray%.prototype's byteLength getter: the view's own length, whatever a subclass or own property says. */
const intrinsicByteLength = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), 'byteLength')!.get!;
const EMPTY_TARGET = new Uint8Array(0);

/**
 * A message's length, checked against the bytes a copy of it would take, or
 * -1: #offerFrom reserves records by this length, then copies the views into
 * them (TypedArray.prototype.set, which copies a view's real length). A
 * `length` that says less would write over the next records, and a view
 * that cannot be read (its buffer detached, say by a transfer to a worker,
 * or shrunk) would throw between the reservation and its commit, leaving
 * records whose bytes the next commit publishes. Both are refused before
 * anything is reserved. `length` is read first: that load lets V8 inline the
 * getter's call.
 */
function copyableLength(message: Uint8Array): number {
  const length = message.length;
  if (length !== (intrinsicByteLength.call(message) as number)) return -1;
  if (length === 0) {
    try {
      EMPTY_TARGET.set(message);
    } catch {
      return -1;
    }
  }
  return length;
}

/** copyableLength, or the error that says why the message cannot be copied. */
function readableLength(message: Uint8Array): number {
  const length = copyableLength(message);
  if (length >= 0) return length;
  const holds = intrinsicByteLength.call(message) as number;
  if (message.length !== holds) {
    throw invalidOption('message', `a Uint8Array whose length says ${String(message.length)} but which holds ${String(holds)} bytes`, 'a Uint8Array or Buffer');
  }
  throw invalidOption('message', 'a view of a detached or shrunk ArrayBuffer', 'a Uint8Array or Buffer whose bytes can be read');
}

function wrapSystem(error: unknown, message: string): RingcastError {
  // A bus is a SOCK_SEQPACKET socket: connecting to a stream or datagram socket says EPROTOTYPE.
  const notABus = (error as { errno?: number }).errno === osConstants.errno.EPROTOTYPE;
  const detail = notABus ? 'not a ringcast bus (a socket of another kind)' : error instanceof Error ? error.message : String(error);
  return new RingcastError('ERR_RINGCAST_SYSTEM', `${message}: ${detail}`, { cause: error });
}

export { wrapSystem };
