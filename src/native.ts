// Every native symbol the addon exports, declared once (native/binding/addon.cc, control.cc).
// Layout constants come from the addon itself: TypeScript never re-declares them.
import { loadAddon } from './load-addon.js';

/** Constants from native/include/ringcast_layout.h, ringcast.h and ringcast_control.h. */
export interface NativeConstants {
  RC_LAYOUT_VERSION: number;
  RC_PAGE_SIZE: number;
  RC_CACHE_LINE: number;
  RC_MAX_SUBSCRIBERS: number;
  RC_SLOT_SIZE: number;
  RC_SLOT_TABLE_OFFSET: number;
  RC_DESC_SIZE: number;
  RC_ACK_PAGE_SIZE: number;
  RC_MIN_CAPACITY: number;
  RC_MAX_CAPACITY: number;
  RC_RECORD_ALIGN: number;
  RC_RECORD_HEADER_SIZE: number;
  RC_MIN_MAX_PAYLOAD: number;
  RC_DEFAULT_MAX_MESSAGE: number;
  RC_FIRST_FRAGMENT_SIZE: number;
  RC_COPY_GUARDED_FROM: number;
  RC_PUB_OPEN: number;
  RC_PUB_CLOSED: number;
  RC_PUB_ABORTED: number;
  RC_POLICY_BLOCK: number;
  RC_POLICY_DROP: number;
  RC_SLOT_FREE: number;
  RC_SLOT_ACTIVE: number;
  RC_SLOT_LAGGING: number;
  RC_SLOT_EVICTED: number;
  RC_EVICT_NONE: number;
  RC_EVICT_SLOW: number;
  RC_EVICT_PROTOCOL: number;
  RC_EVICT_DEAD: number;
  RC_EVICT_CLOSED: number;
  RC_FRAG_FIRST: number;
  RC_FRAG_LAST: number;
  RC_FEATURE_ENVELOPE: number;
  RC_ENVELOPE_SIZE: number;
  /** From native/include/ringcast_layout.h: enum rc_join_verdict (native/binding/ivshmem.cc). */
  RC_JOIN_ACCEPTED: number;
  RC_JOIN_BAD_PEER: number;
  RC_JOIN_BACKOFF: number;
  RC_JOIN_BAD_ORDER: number;
  RC_JOIN_CLOSED: number;
  RC_JOIN_LEFT: number;
  /** From native/include/rc_ivshmem.h: ivshmem peer ids are 16 bits. */
  RC_IVSHMEM_MAX_PEER_ID: number;
  RC_IVSHMEM_VECTOR: number;
  RC_XEN_ACK_BY_SUBSCRIBER: number;
  RC_XEN_ACK_BY_PUBLISHER: number;
  RC_XEN_DEATH_UNMAP: number;
  RC_XEN_DEATH_XENSTORE: number;
  RC_XEN_DEATH_HEARTBEAT: number;
  RC_XEN_EVENT_JOINED: number;
  RC_XEN_EVENT_LEFT: number;
  RC_XEN_EVENT_DEAD: number;
  RC_XEN_EVENT_REFUSED: number;
  RC_XEN_MAX_DOMAINS: number;
  RC_XEN_MAX_DOMAIN_SLOTS: number;
  RC_XEN_MAX_CAPACITY: number;
  RC_XEN_BUS_NAME_MAX: number;
  /** FdWatcher's doorbell kind for /dev/xen/evtchn. */
  DOORBELL_EVTCHN: number;
  RC_OK: number;
  RC_EAGAIN: number;
  RC_EINVAL: number;
  RC_ECORRUPT: number;
  RC_ELAPPED: number;
  RC_EEVICTED: number;
  RC_ECLOSED: number;
  RC_ETOOBIG: number;
  RC_ESTATE: number;
  RC_ENOSLOT: number;
  RC_EABORTED: number;
  /** Whole-message reads: the next message is fragmented; meta[1] = its length, meta[2] its seq; read it with readMessage. */
  RC_EMESSAGE: number;
  RC_MAX_FDS_PER_MESSAGE: number;
  /** From native/include/ringcast_control.h (the control-message wire format). */
  RC_CONTROL_VERSION: number;
  /** hello.version / welcome.version: what the peers speak. */
  RC_PROTOCOL_VERSION: number;
  RC_CONTROL_HEADER_SIZE: number;
  /** Most UTF-8 bytes of a refused message's text. */
  RC_CONTROL_MAX_TEXT: number;
  /** Largest control datagram either side accepts. */
  RC_CONTROL_MAX_SIZE: number;
  RC_CONTROL_HELLO: number;
  RC_CONTROL_WELCOME: number;
  RC_CONTROL_REFUSED: number;
  RC_CONTROL_DETACH: number;
  RC_CONTROL_REJOIN: number;
  RC_ROLE_SUBSCRIBE: number;
  RC_ROLE_INSPECT: number;
  RC_ROLE_CHANNEL: number;
  RC_REFUSE_VERSION: number;
  RC_REFUSE_ALLOW_LIST: number;
  RC_REFUSE_FULL: number;
  RC_REFUSE_QUOTA: number;
  RC_REFUSE_PROTOCOL: number;
  RC_REFUSE_TIMEOUT: number;
  RC_REFUSE_CLOSING: number;
  RC_REFUSE_FLOOD: number;
  RC_REFUSE_BACKOFF: number;
  /** Numbers per record in a meta array: offset, length, flags, seq. */
  META_STRIDE: number;
  /** Most records one read/poll describes. */
  MAX_BATCH: number;
  /** Fragmented messages from this length on (just under 32 MiB: what glibc's heap no longer serves) get their Buffer from allocMessage. */
  LARGE_MESSAGE_FROM: number;
}

export interface NativeSlotStats {
  slot: number;
  state: number;
  reason: number;
  ack: number;
  generation: number;
  lostFrom: number;
  lostTo: number;
  lostMessages: number;
  evictions: number;
}

export interface NativeAttachment {
  slot: number;
  generation: number;
  ackFd: number;
  /** publisher -> subscriber doorbell. */
  doorbellFd: number;
  /** subscriber -> publisher doorbell, one per subscriber. */
  wakeFd: number;
}

/** Publisher side of one ring (owns the memfd, ack pages, doorbells). */
export interface NativePublisher {
  readonly ringFd: number;
  readonly maxPayload: number;
  readonly capacity: number;
  /** Writable view of the data area (zero-copy claims). */
  readonly data: ArrayBuffer;
  /** The data area for publishBatch's copies (reserveBatch), one ArrayBuffer; destroy() detaches it and lets go of the ring at once. */
  copyTarget(): ArrayBuffer;
  /** Null when every slot is taken. */
  attach(pid: number, uid: number): NativeAttachment | null;
  /** The welcome carrying the slot's ack page was sent: closes our descriptor of it (the mapping stays). */
  handedOver(slot: number): void;
  detach(slot: number, reason: number): void;
  evict(slot: number, reason: number): void;
  /** Writes and commits a whole message if it fits now: bit 1 = written, bit 2 = slot states changed (takeChanges). */
  offer(message: Uint8Array): number;
  /** offer, bound to this object: the same calls without the per-call lookup of the object. */
  offerFunction(): (message: Uint8Array) => number;
  /**
   * Writes the messages, passed as arguments (an array's elements cost a lookup each in the addon),
   * by reference while they fit whole; one commit; returns how many were written.
   */
  offerBatch(...messages: Uint8Array[]): number;
  /**
   * Reserves records for the first `count` messages of lengths[i] bytes while they fit whole, in
   * order, not committed; offsets[i] = where in `data` each payload goes; returns how many. Copy
   * the payloads in, then commit(), before any other call on this publisher.
   */
  reserveBatch(lengths: Uint32Array, count: number, offsets: Float64Array): number;
  /** Publishes what was written (one head store) and rings announced sleepers' doorbells. */
  commit(): void;
  /** Writes as much of a message as fits from `offset`; commits; returns the new offset. */
  writePart(message: Uint8Array, offset: number): number;
  /** Offset of the claimed payload in `data`, or a negative RC_* status. */
  claim(length: number): number;
  claimCommit(length: number): number;
  claimAbort(): number;
  /** True if the caller must sleep on doorbellFd for room for `length` bytes. */
  prepareWait(length: number): boolean;
  endWait(): void;
  /** Bytes writable now (-1: unbounded), after re-validating every ack. */
  refresh(): number;
  /** Evict instead of waiting for subscribers more than `maxLag` bytes behind (0: never). False if out of range. */
  setMaxLag(maxLag: number): boolean;
  /** Evicts the subscribers keeping a `length`-byte message out; returns how many. */
  evictBlocking(length: number): number;
  /** Evicts slots whose ack-page heartbeat did not move for `timeoutMs`; returns how many. */
  checkHeartbeats(nowMs: number, timeoutMs: number): number;
  /** Slots whose state changed since the last call; `evictions` counts every eviction of the slot so far, the lost range is the last one's. */
  takeChanges(): Array<{ slot: number; state: number; reason: number; evictions: number; evictReason: number; lostFrom: number; lostTo: number; lostMessages: number }>;
  /** `joinSeq`: the first message a subscriber attached now receives (the one after a message partly written). */
  stats(): { head: number; messages: number; joinSeq: number; doorbellsRung: number; headStores: number; roomSpins: number; roomSpinsFound: number; slots: NativeSlotStats[] };
  /** Orderly end: head is final, subscribers drain and then end (RC_ECLOSED). */
  close(): void;
  /** Cut short: head is final, subscribers drain and then fail (RC_EABORTED). No-op after close(). */
  abort(): void;
  destroy(): void;
}

export interface NativeSubscriberInfo {
  slot: number;
  generation: number;
  position: number;
  capacity: number;
  maxPayload: number;
  lostFrom: number;
  lostTo: number;
  /** On an eviction: the sequence number of the first message not lost (-1: unknown, as after a lap). */
  lostToSeq: number;
  /** The publisher's count, from its last validated ack (may be behind `position`). */
  lostMessages: number;
  evictReason: number;
  publisherState: number;
  head: number;
  /** The publisher's message count (the next sequence number). */
  messages: number;
  doorbellsRung: number;
  /** Bytes of fragmented messages readMessage copied with non-temporal stores (which copy a message got). */
  streamedBytes: number;
  /** Bounded spins for the next fragment of a message begun (RC_LARGE_SPIN_NS), and how many found it. */
  fragmentSpins: number;
  fragmentSpinsFound: number;
  /** RC_FEATURE_* bits of the ring. */
  features: number;
  /** The ring's bus_id, 16 hex digits. */
  busId: string;
}

/**
 * Takes everything ready if that is at most the bound count of records and
 * fits the scratch buffer (in ring bytes): copies it there, acknowledges it
 * and returns the count (meta as read() fills it, offsets into scratch, but
 * meta[0] = the slot's RC_SLOT_* state); 0 when nothing is ready; a negative
 * RC_* status; or RC_ETOOBIG, leaving it all to read().
 */
export type NativeReadSmall = () => number;
/**
 * A wait's one call into the addon (FdWatcher.sleepFunction): announces the
 * wait (clearRing: first clear the ring a leaveRung watcher left in the
 * doorbell) and, once announced, starts the watcher. true: asleep, the
 * watcher calls back when the doorbell rings; false: something came (read
 * again), or the reader is gone.
 */
export type NativeSleep = (clearRing?: boolean) => boolean;
/** A subscriber's sleep announcement as the addon hands it to its doorbell's watcher (announcer()); opaque to JS. */
export type NativeAnnouncer = { readonly __announcer: unique symbol };

/** Subscriber side of one ring (read-only ring mapping, own ack page). */
export interface NativeSubscriber {
  /** Read-only view of the data area (zero-copy polls). */
  readonly data: ArrayBuffer;
  /**
   * Socket buses only: blocks this thread until the doorbell rings or
   * `timeoutMs` passes (< 0: no limit), with the core's sleep protocol.
   * 0: timed out; 1: something may be ready (read again); 2: the control
   * socket `controlFd` has something, which only the event loop reads; 3:
   * the doorbell rang (read again). It watches the doorbell edge-triggered
   * and never clears a ring: what woke it stays in the eventfd for the
   * event loop's next announcement to clear.
   */
  waitSync?(timeoutMs: number, controlFd: number): number;
  /** waitSync bound to this object: no unwrap per call (recvSync() makes one per wait). */
  waitSyncFunction?(): (timeoutMs: number, controlFd: number) => number;
  /**
   * Copies a batch; meta[0] = count or negative RC_* status. Into a new
   * Buffer, which is returned (null when nothing was copied).
   */
  read(maxBytes: number, meta: Float64Array): Buffer | null;
  /**
   * Copies a batch into `into` (at least maxPayload bytes, at most its
   * length copied); meta as read()'s. Returns how many of the first entries
   * lie where the same entries of the last read into `into` did (same offset
   * and length), or null when nothing was copied.
   */
  read(maxBytes: number, meta: Float64Array, into: Uint8Array): number | null;
  /** Binds the arrays readSmall fills (meta as read()'s, a scratch buffer) and returns it, bound to this object. */
  bindReadBuffers(meta: Float64Array, scratch: Uint8Array, maxCount: number): NativeReadSmall;
  /** Describes a batch in meta without acknowledging it. */
  poll(meta: Float64Array): number;
  /**
   * Whole-message reads from now on, messages above `maxMessage` bytes (0: the
   * ring's max_message) refused as corrupt: read, poll and readSmall stop
   * before a fragmented message and answer RC_EMESSAGE with its length in
   * meta[1] and its seq in meta[2]; readMessage copies it.
   */
  handOutWholeMessages(maxMessage: number): void;
  /**
   * Copies the fragmented message announced by RC_EMESSAGE into `message`
   * (exactly its length) from `filled` on, as far as it is committed; returns
   * the new fill (message.length: complete) or a negative RC_* status.
   * `fresh`: `message` is a Buffer of its own for this message, not one
   * reused (and maybe in the cache): copies into it stream past the cache
   * (non-temporal stores) from 1 MiB on; into a reused one from 8 MiB on,
   * where it no longer stays in the cache (subscriber_reads.h).
   */
  readMessage(message: Uint8Array, filled: number, fresh?: boolean): number;
  /** The sequence number of the next message if its record is in the ring, else -1; acknowledges nothing. */
  peekSeq(): number;
  /** Acknowledges the last poll after re-checking it was not overwritten. */
  release(): number;
  /** Acknowledges only the first `records` entries of the last poll. */
  releasePartial(records: number): number;
  /** Our doorbell (verified eventfd, owned by this object). */
  readonly doorbellFd: number;
  /**
   * This reader's sleep announcement for FdWatcher.sleepFunction() (the only
   * way to announce a wait from JS); holds the reader's native half until
   * collected. clearRing there clears the ring a leaveRung FdWatcher left in
   * the doorbell (socket subscribers; elsewhere nothing to clear).
   */
  announcer(): NativeAnnouncer;
  /** Withdraws an announced wait (a wait that ends without the doorbell). */
  endWait(): void;
  available(): number;
  /** Bumps the ack page's heartbeat counter. */
  heartbeat(): void;
  /** Our slot's state in the publisher's mirror (RC_SLOT_*). */
  slotState(): number;
  info(): NativeSubscriberInfo;
  /** poll/read hand out each message's envelope too (bridges). */
  keepEnvelopes(): void;
  destroy(): void;
}

export interface FdWatcherOptions {
  /** Pause (as stop() does) before each callback; start() again to wait again. */
  oneShot?: boolean;
  /**
   * An eventfd doorbell: a ring that wakes a waiter is not cleared before the
   * callback; the subscriber's next announcement (sleepFunction's
   * sleep(true)) clears it (a ring while nobody waits is cleared at once).
   */
  leaveRung?: boolean;
  /**
   * Kept reachable while the watcher is started, only weakly referenced
   * otherwise; the callback gets it as its argument (when it is still there),
   * so the callback need not capture it.
   */
  holds?: object;
}

export interface NativeFdWatcher {
  start(): void;
  /**
   * A function that announces a wait through `announcer` (a reader's) and,
   * once announced, starts this watcher: one call into the addon per wait,
   * bound to both (no unwrap). Every subscriber wait goes through it.
   */
  sleepFunction(announcer: NativeAnnouncer): NativeSleep;
  stop(): void;
  close(): void;
}

export interface NativePeer {
  fd: number;
  pid: number;
  uid: number;
  gid: number;
}

export interface NativeRingSnapshot {
  valid: boolean;
  capacity?: number;
  maxPayload?: number;
  policy?: number;
  head?: number;
  messages?: number;
  publisherState?: number;
  publisherPid?: number;
  /** guest: attached through shared memory (its join answer names this attachment). */
  slots?: Array<NativeSlotStats & { pid: number; uid: number; guest: boolean }>;
}

/**
 * A control message as the codec sees it (native/binding/control.cc): numeric
 * RC_CONTROL_* type, RC_ROLE_* role, RC_REFUSE_* reason. Which fields are
 * present depends on `type`: hello {version, role}; welcome {version, slot,
 * generation, nextSeq}; refused {reason, text}; detach and rejoin: none.
 */
export interface NativeControlMessage {
  type: number;
  version?: number;
  role?: number;
  /** -1 for the inspect role. */
  slot?: number;
  generation?: number;
  /** The publisher's next message sequence number at attach. */
  nextSeq?: number;
  reason?: number;
  /** At most RC_CONTROL_MAX_TEXT UTF-8 bytes. */
  text?: string;
}

/** What one service pass of the ivshmem host did. */
export interface NativeIvshmemService {
  accepted: number[];
  rejected: Array<{ slot: number; verdict: number; peer: number }>;
  /** Evicted DEAD: their peer left the server. */
  dead: number[];
  /** Freed at their own request. */
  left: number[];
  /** A join waits for its peer's announcement: service again after this long (0: none). */
  retryMs: number;
  /** Server peers whose departure this pass read: the host holds none of their descriptors any more. */
  peersGone: number[];
  /** The errno that ended the server connection (0: none). */
  error: number;
}

/** The ivshmem provider's host side (native/binding/ivshmem.cc): ack files, server peer, join requests. */
export interface NativeIvshmemHost {
  /** The ivshmem server socket (watch it: peers come and go). */
  readonly serverFd: number;
  /** The host's own doorbell (watch it: join requests, acks while waiting for room). */
  readonly doorbellFd: number;
  /** The publisher's peer id on the server (also in the ring's descriptor). */
  readonly hostPeer: number;
  /** Reads the server, answers join requests. */
  service(): NativeIvshmemService;
  /** Bumps the ring's publisher_heartbeat: guests have no socket to see the publisher die. */
  heartbeat(): void;
  /** That guest's joins are refused (verdict BACKOFF) for `waitMs`. */
  backoff(slot: number, waitMs: number): void;
  /** Per guest slot: the peer bound by its last accepted join (-1: none). */
  guests(): Array<{ slot: number; peer: number; joins: number; rejected: number }>;
  destroy(): void;
}

/** A guest's subscriber over ivshmem: the NativeSubscriber methods plus the join through shared memory. */
export interface NativeIvshmemSubscriber extends NativeSubscriber {
  /** RC_OK: asked and rang the host; RC_EAGAIN: the host has not published its peer id yet; else a negative status. */
  joinBegin(): number;
  /** RC_OK: attached; RC_EAGAIN: no answer yet; RC_EINVAL: refused (lastVerdict) or inconsistent. */
  joinPoll(): number;
  /** True when the publisher's heartbeat stood still for `timeoutMs` (caller's clock) while the bus is open. */
  publisherGone(nowMs: number, timeoutMs: number): boolean;
  /** Gives the slot back at once (the socket path's detach); does not wait. */
  leave(): number;
  /** RC_JOIN_* of the last answer. */
  readonly lastVerdict: number;
  info(): NativeSubscriberInfo & { joinPosition: number; peer: number; hostPeer: number };
}

/** One thing a Xen publisher's service pass saw (native/binding/xen.cc). */
export interface NativeXenEvent {
  /** Index of the receiver domain in the publisher's list. */
  domain: number;
  domid: number;
  /** The slot within that domain. */
  slot: number;
  /** The slot's index in the ring. */
  ringSlot: number;
  /** RC_XEN_EVENT_*. */
  kind: number;
  /** RC_XEN_DEATH_* (kind DEAD). */
  death: number;
  /** RC_JOIN_* in the slot's answer entry (kind REFUSED). */
  verdict: number;
}

/** The publishing calls every ring has, whoever supplies it (native/binding/publisher_writes.h). */
export type NativeRingWriter = Omit<NativePublisher, 'ringFd' | 'attach' | 'handedOver' | 'detach'>;

/** A Xen bus's publishing side: one ring, from the grant device, granted read-only to every receiver domain. */
export interface NativeXenPublisher extends NativeRingWriter {
  /** The subscriber in ring slot `ringSlot` has its joins refused (verdict BACKOFF) for `waitMs`, as an ivshmem guest's. */
  backoff(ringSlot: number, waitMs: number): void;
  /** Non-blocking: joins, leaves, deaths and refusals since the last pass (slot transitions: takeChanges). */
  service(): NativeXenEvent[];
  /** Who each ring slot is for, in ring-slot order. */
  receivers(): Array<{ domid: number; slot: number; ringSlot: number; ackGrant: number }>;
  /** The paper's manual reference passing for a slot whose ack page the publisher grants, else null. */
  manualLine(domain: number, slot: number): string | null;
  /** /dev/xen/evtchn: joins, acks while waiting, deaths ring it. */
  readonly evtchnFd: number;
  readonly attached: number;
  readonly ownDomid: number;
  /** The ring's pages (descriptor + data area). */
  readonly ringPages: number;
}

/** A subscriber in a Xen domain: the NativeSubscriber methods plus open and join, run off the event loop. */
export interface NativeXenSubscriber extends NativeSubscriber {
  /** Looks the bus up (or takes the manual line), maps the ring, binds the channel; status 0 or -errno, `step` names what failed. */
  open(timeoutMs: number): Promise<{ status: number; step: string }>;
  /** RC_OK attached; RC_EINVAL refused (lastVerdict); -ETIMEDOUT. */
  join(timeoutMs: number): Promise<{ status: number; step: string }>;
  leave(): number;
  /** The publisher's kernel cleared publisher_state: it is gone without an orderly close. */
  publisherGone(): boolean;
  readonly lastVerdict: number;
  info(): NativeSubscriberInfo & { domid: number; publisherDomid: number; ackGrant: number };
}

export interface NativeAddon {
  constants: NativeConstants;
  /** With `ringFile`, the ring is that file (the ivshmem provider), sized ivshmemRegionSize(capacity). */
  Publisher: new (
    capacity: number,
    maxPayload: number,
    policy: number,
    busIdHigh: number,
    busIdLow: number,
    features?: number,
    ringFile?: string,
    fileMode?: number,
    /** Declared in the ring: the largest message it carries (default RC_DEFAULT_MAX_MESSAGE). */
    maxMessage?: number,
    /**
     * A mixed bus: the ring is a sealed memfd of ivshmemRegionSize(capacity)
     * (handed to local subscribers) and `ringFile` a link to it for QEMU.
     */
    mixed?: boolean,
  ) => NativePublisher;
  /** Creates the guests' ack files and connects to the ivshmem server; `publisher` must outlive it. peerIds: -1 = any. */
  IvshmemHost: new (
    publisher: NativePublisher,
    serverSocket: string,
    ackFiles: string[],
    peerIds: number[],
    fileMode: number,
    connectTimeoutMs: number,
  ) => NativeIvshmemHost;
  /** Guest devices (doorbellDevice) or host files + the server's eventfds (serverSocket); exactly one is a string. */
  IvshmemSubscriber: new (ring: string, ack: string, doorbellDevice: string | null, serverSocket: string | null) => NativeIvshmemSubscriber;
  /** rc_ring_size(capacity) rounded up to a power of two; 0 for a bad capacity. */
  ivshmemRegionSize(capacity: number): number;
  /** Takes ownership of the four descriptors (closed on destroy or failure). */
  Subscriber: new (ringFd: number, ackFd: number, doorbellFd: number, publisherDoorbellFd: number) => NativeSubscriber;
  /** Publishes a Xen bus (native/src/providers/xen/rc_xen.c); receivers: [domid, RC_XEN_ACK_BY_*], in slot order per domain. */
  XenPublisher: new (
    bus: string,
    capacity: number,
    policy: number,
    receivers: Array<[number, number]>,
    useXenstore: boolean,
    heartbeatTimeoutMs: number,
    maxLagBytes: number,
    /** RC_FEATURE_* of the ring (RC_FEATURE_ENVELOPE: a republishing bridge's bus). */
    features: number,
  ) => NativeXenPublisher;
  /** Nothing is opened before open(); a manual line replaces XenStore. */
  XenSubscriber: new (bus: string, publisherDomid: number, slot: number, manualLine: string | null) => NativeXenSubscriber;
  /** Whether this domain has /dev/xen/{gntalloc,gntdev,evtchn}. */
  xenAvailable(): boolean;
  /** This domain's id, read from XenStore; throws where there is no XenStore. */
  xenOwnDomid(): number;
  /**
   * inspectRing of a Xen bus, from a receiver domain (rc_xen_view: the
   * descriptor mapped read-only; no slot, no write, no event channel), with
   * this domain's id and its slots' indexes in the ring. Throws with errno
   * EXDEV in the publisher's own domain, ENODATA where the bus is not
   * published for this domain.
   */
  xenInspect(bus: string, publisherDomid: number): NativeRingSnapshot & { domid: number; domainSlots: number[] };
  /**
   * doorbell: false (a socket), true (an eventfd), or C.DOORBELL_EVTCHN
   * (/dev/xen/evtchn): cleared before the callback. onReady gets
   * options.holds, if given.
   */
  FdWatcher: new <H extends object = object>(fd: number, doorbell: boolean | number, onReady: (held: H) => void, options?: FdWatcherOptions & { holds?: H }) => NativeFdWatcher;
  unixListen(path: string, backlog: number): number;
  unixConnect(path: string): number;
  unixAccept(listenFd: number): NativePeer | null;
  peerCredentials(fd: number): NativePeer;
  unixSend(fd: number, data: Uint8Array, fds: number[]): void;
  /** Null: nothing pending. data.length 0: the peer closed. */
  unixRecv(fd: number, maxLength: number): { data: Buffer; fds: number[] } | null;
  closeFd(fd: number): void;
  /** prctl(PR_SET_DUMPABLE, 0) for this process. */
  refuseSameUidAccess(): void;
  ringDoorbell(fd: number): void;
  inspectRing(fd: number): NativeRingSnapshot;
  /** The core's default record payload limit for a data area of `capacity` bytes. */
  defaultMaxPayload(capacity: number): number;
  /** The smallest maxLagBytes the core accepts with records of `maxPayload` bytes. */
  minMaxLag(maxPayload: number): number;
  /**
   * A Buffer of `length` bytes (at least LARGE_MESSAGE_FROM) in a mapping of
   * its own, one that an earlier such Buffer left when it was collected if
   * one fits (at most 128 MiB of them are kept per process): a large message
   * is copied into it without a page fault per 4 KiB.
   */
  allocMessage(length: number): Buffer;
  /** One control datagram; throws (ERR_RINGCAST_INVALID_OPTION) on a message the codec refuses. */
  encodeControl(message: NativeControlMessage): Buffer;
  /** Null unless `data` is exactly one well-formed control datagram. */
  decodeControl(data: Uint8Array): NativeControlMessage | null;
}

export const native = loadAddon() as NativeAddon;
export const C = native.constants;
